package atlas

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/tokenizer"
)

// Merge combines complete atlases of the same model and settings into out.
// The result equals one build over the inputs' corpus paths in the order
// given (a's paths, then b's): identical examples, histograms, counts, min
// and max; mean and variance equal up to floating-point summation order.
func Merge(out string, inputs ...string) error {
	if len(inputs) < 2 {
		return errors.New("atlas: merge needs at least two atlases")
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("atlas: %s already exists; choose another --out or delete it", out)
	}
	var meta *Meta
	var hooks []*hookState
	toks := map[int32]string{}
	var cursorShards int
	for i, in := range inputs {
		db, m, err := openExisting(in)
		if err != nil {
			return err
		}
		if m.Status != StatusComplete {
			db.Close()
			return fmt.Errorf("atlas: %s is an unfinished build; finish it with glia atlas build --resume first", in)
		}
		if i > 0 {
			if m.ModelFingerprint != meta.ModelFingerprint {
				db.Close()
				return fmt.Errorf("atlas: %s was built with another model (%s) than %s (%s)", in, m.ModelName, inputs[0], meta.ModelName)
			}
			if !reflect.DeepEqual(m.Settings, meta.Settings) {
				db.Close()
				return fmt.Errorf("atlas: %s and %s have different settings (hooks, ctx, top-k, radius, threshold or sampling); they cannot merge", in, inputs[0])
			}
			if m.TextField != meta.TextField || m.DocSep != meta.DocSep {
				db.Close()
				return fmt.Errorf("atlas: %s and %s read their corpora with different --text-field or --doc-sep", in, inputs[0])
			}
		}
		p, err := readProgress(db)
		if err != nil {
			db.Close()
			return fmt.Errorf("atlas: %s: %w", in, err)
		}
		set := m.Settings
		hs, tk, err := loadState(db, &set, cursorShards, p.Checksum)
		db.Close()
		if err != nil {
			return fmt.Errorf("atlas: %s: %w", in, err)
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
				mergeHook(dst, hs[j])
			}
			meta.Corpus = append(meta.Corpus, m.Corpus...)
			meta.Tokens += m.Tokens
			meta.Windows += m.Windows
			if m.MaxTokens != meta.MaxTokens {
				meta.MaxTokens = 0
			}
		}
		cursorShards += len(m.Corpus)
		if cursorShards >= 1<<16 {
			return errors.New("atlas: too many corpus paths in the merged atlases")
		}
	}
	meta.GliaVersion = GliaVersion
	meta.CreatedAt = time.Now().UTC().Format(time.RFC3339)
	meta.Status = StatusComplete
	db, err := openSQLite(out)
	if err != nil {
		return fmt.Errorf("atlas: creating %s: %w", out, err)
	}
	fail := func(err error) error {
		db.Close()
		os.Remove(out)
		os.Remove(out + "-wal")
		os.Remove(out + "-shm")
		return fmt.Errorf("atlas: writing %s: %w", out, err)
	}
	if err := createSchema(db); err != nil {
		return fail(err)
	}
	prog := progressRow{Cursor: corpus.Cursor{Shard: len(meta.Corpus)}, Windows: meta.Windows, Tokens: meta.Tokens}
	text := func(id int32) string {
		if s, ok := toks[id]; ok {
			return s
		}
		return tokenizer.Unknown(id)
	}
	if err := writeState(db, meta, hooks, prog, text); err != nil {
		return fail(err)
	}
	return db.Close()
}

// mergeHook folds src (a later part of the corpus) into dst.
func mergeHook(dst, src *hookState) {
	na := dst.count
	for u := 0; u < dst.spec.Width; u++ {
		dst.mergeStats(u, na, src.stats(u))
	}
	dst.count += src.count
	for u := 0; u < dst.spec.Width; u++ {
		for _, e := range src.examples(u) {
			dst.restore(u, e)
		}
	}
}
