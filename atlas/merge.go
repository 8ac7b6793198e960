package atlas

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/tokenizer"
)

// Merge combines complete atlases of the same model and settings into out.
//
// Atlases of different corpus paths give the atlas of one build over the
// inputs' paths in the order given (a's paths, then b's). Slices of one
// corpus (BuildOptions.Slice) give the atlas of one build over that corpus,
// in whatever order they are given; every slice must be there once.
// Either way the examples, histograms, counts, min and max are identical
// to the one build's; mean and variance equal up to floating-point
// summation order.
func Merge(out string, inputs ...string) error {
	if len(inputs) < 2 {
		return errors.New("atlas: merge needs at least two atlases")
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("atlas: %s already exists; merge into a new file", out)
	}
	if err := distinctInputs(inputs); err != nil {
		return err
	}
	metas := make([]*Meta, len(inputs))
	for i, in := range inputs {
		db, m, err := openExisting(in)
		if err != nil {
			return err
		}
		db.Close()
		if m.Status != StatusComplete {
			return fmt.Errorf("atlas: %s is an unfinished build; resume its build to finish it first", in)
		}
		if i > 0 {
			if m.ModelFingerprint != metas[0].ModelFingerprint {
				return fmt.Errorf("atlas: %s was built with another model (%s) than %s (%s)", in, m.ModelName, inputs[0], metas[0].ModelName)
			}
			if d := diffSettings(metas[0], m); len(d) > 0 {
				return fmt.Errorf("atlas: %s and %s cannot be merged: %w", inputs[0], in, &SettingsError{A: inputs[0], B: in, Diffs: d})
			}
		}
		metas[i] = m
	}
	sliced, err := orderSlices(inputs, metas)
	if err != nil {
		return err
	}
	if !sliced {
		shardOf := map[string]string{} // shard content hash → the input holding it
		for i, m := range metas {
			for _, sh := range m.Corpus {
				if prev, ok := shardOf[sh.Hash]; ok {
					return fmt.Errorf("atlas: %s and %s were both built over corpus path %s (the same content, sha256 %.12s); merging would count its tokens twice", prev, inputs[i], sh.Name, sh.Hash)
				}
				shardOf[sh.Hash] = inputs[i]
			}
		}
	}
	var meta *Meta
	var hooks []*hookState
	ws := newWindowStore()
	toks := map[int32]string{}
	var shardOffset int
	for i, in := range inputs {
		db, m, err := openExisting(in)
		if err != nil {
			return err
		}
		p, err := readProgress(db)
		if err != nil {
			db.Close()
			return fmt.Errorf("atlas: %s: %w", in, err)
		}
		set := m.Settings
		hs, iws, tk, err := loadState(db, &set, shardOffset, p.Checksum)
		db.Close()
		if err != nil {
			return withPath(in, err)
		}
		for id, s := range tk {
			toks[id] = s
		}
		if i == 0 {
			meta = m
			hooks = hs
			for j := range hooks {
				hooks[j].set = &meta.Settings
			}
		} else {
			for j, dst := range hooks {
				mergeHook(dst, hs[j], iws)
			}
			if sliced {
				for k := range meta.Corpus {
					meta.Corpus[k].Tokens += m.Corpus[k].Tokens
					meta.Corpus[k].Windows += m.Corpus[k].Windows
				}
			} else {
				meta.Corpus = append(meta.Corpus, m.Corpus...)
			}
			meta.Tokens += m.Tokens
			meta.Windows += m.Windows
			if m.MaxTokens != meta.MaxTokens {
				meta.MaxTokens = 0
			}
		}
		for id, w := range iws.byID {
			ws.byID[id] = w
		}
		if !sliced {
			shardOffset += len(m.Corpus)
		}
		if shardOffset >= 1<<16 {
			return errors.New("atlas: too many corpus paths in the merged atlases")
		}
	}
	for _, hs := range hooks {
		hs.allDirty = true
	}
	meta.Slice = Slice{}
	meta.GliaVersion = GliaVersion
	meta.CreatedAt = time.Now().UTC().Format(time.RFC3339)
	meta.Status = StatusComplete
	if meta.Tokens == 0 {
		return ErrEmptyCorpus
	}
	db, err := openSQLite(out)
	if err != nil {
		return fmt.Errorf("atlas: creating %s: %w", out, err)
	}
	fail := func(err error) error {
		db.Close()
		removeDB(out)
		return fmt.Errorf("atlas: writing %s: %w", out, err)
	}
	prog := progressRow{Cursor: corpus.Cursor{Shard: len(meta.Corpus)}, Windows: meta.Windows, Tokens: meta.Tokens,
		CorpusWindows: meta.Windows, CorpusTokens: meta.Tokens}
	text := func(id int32) string {
		if s, ok := toks[id]; ok {
			return s
		}
		return tokenizer.Unknown(id)
	}
	if err := writeState(db, meta, hooks, ws, prog, text, true); err != nil {
		return fail(err)
	}
	return db.Close()
}

// orderSlices sorts inputs that are slices of one corpus by slice index,
// checking that each slice is there once; it reports whether they are
// slices. Atlases of whole corpora are left in their order.
func orderSlices(inputs []string, metas []*Meta) (bool, error) {
	n := 0
	for _, m := range metas {
		if !m.Slice.Whole() {
			n++
		}
	}
	if n == 0 {
		return false, nil
	}
	first := metas[0]
	for i, m := range metas {
		switch {
		case m.Slice.Whole():
			return false, fmt.Errorf("atlas: %s is a whole build and %s a slice (%s); merge the slices first", inputs[i], inputs[(i+1)%len(inputs)], metas[(i+1)%len(inputs)].Slice)
		case m.Slice.Count != first.Slice.Count:
			return false, fmt.Errorf("atlas: %s is slice %s and %s slice %s: slices of one build share their count", inputs[0], first.Slice, inputs[i], m.Slice)
		case !sameCorpus(m.Corpus, first.Corpus):
			return false, fmt.Errorf("atlas: %s and %s are slices of different corpora", inputs[0], inputs[i])
		case m.Slice.Batch != first.Slice.Batch:
			return false, fmt.Errorf("atlas: %s and %s are slices of builds with different batches (%d, %d windows): their slices do not fit together", inputs[0], inputs[i], first.Slice.Batch, m.Slice.Batch)
		case m.MaxTokens != first.MaxTokens:
			return false, fmt.Errorf("atlas: %s and %s are slices of builds with different token limits (%d, %d)", inputs[0], inputs[i], first.MaxTokens, m.MaxTokens)
		}
	}
	idx := make([]int, len(inputs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return metas[idx[a]].Slice.Index < metas[idx[b]].Slice.Index })
	have := map[int]string{}
	for _, i := range idx {
		if prev, ok := have[metas[i].Slice.Index]; ok {
			return false, fmt.Errorf("atlas: %s and %s are both slice %s", prev, inputs[i], metas[i].Slice)
		}
		have[metas[i].Slice.Index] = inputs[i]
	}
	var missing []string
	for k := 0; k < first.Slice.Count; k++ {
		if _, ok := have[k]; !ok {
			missing = append(missing, Slice{Index: k, Count: first.Slice.Count}.String())
		}
	}
	if len(missing) > 0 {
		return false, fmt.Errorf("atlas: slices %s are missing; a merge of slices needs all %d", strings.Join(missing, ", "), first.Slice.Count)
	}
	in2, m2 := make([]string, len(inputs)), make([]*Meta, len(metas))
	for k, i := range idx {
		in2[k], m2[k] = inputs[i], metas[i]
	}
	copy(inputs, in2)
	copy(metas, m2)
	return true, nil
}

func sameCorpus(a, b []ShardInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Hash != b[i].Hash {
			return false
		}
	}
	return true
}

// withPath names the atlas in a load error.
func withPath(path string, err error) error {
	var be *BlobError
	if errors.As(err, &be) {
		be.Path = path
		return be
	}
	return fmt.Errorf("atlas: %s: %w", path, err)
}

// distinctInputs refuses an atlas given twice, by name or through another
// path to the same file.
func distinctInputs(inputs []string) error {
	stats := make([]os.FileInfo, len(inputs))
	for i, in := range inputs {
		st, err := os.Stat(in)
		if err != nil {
			return fmt.Errorf("atlas: %w", err)
		}
		for j := range i {
			if os.SameFile(stats[j], st) {
				return fmt.Errorf("atlas: %s and %s are the same file; each atlas can be merged once", inputs[j], in)
			}
		}
		stats[i] = st
	}
	return nil
}

// mergeHook folds src (a later part of the corpus) into dst; srcWin holds
// the windows src's examples point into.
func mergeHook(dst, src *hookState, srcWin *windowStore) {
	na := dst.count
	var buf []uint64
	for u := 0; u < dst.spec.Width; u++ {
		st := src.stats(u, buf)
		buf = st.hist
		dst.mergeStats(u, na, st)
	}
	dst.count += src.count
	for u := 0; u < dst.spec.Width; u++ {
		for _, e := range src.examples(u, srcWin.length) {
			dst.restore(u, e)
		}
	}
}
