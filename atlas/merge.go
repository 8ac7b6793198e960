package atlas

import (
	"errors"
	"fmt"
	"os"
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
		return fmt.Errorf("atlas: %s already exists; merge into a new file", out)
	}
	if err := distinctInputs(inputs); err != nil {
		return err
	}
	var meta *Meta
	shardOf := map[string]string{} // shard content hash → the input holding it
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
			return fmt.Errorf("atlas: %s is an unfinished build; resume its build to finish it first", in)
		}
		if i > 0 {
			if m.ModelFingerprint != meta.ModelFingerprint {
				db.Close()
				return fmt.Errorf("atlas: %s was built with another model (%s) than %s (%s)", in, m.ModelName, inputs[0], meta.ModelName)
			}
			if d := diffSettings(meta, m); len(d) > 0 {
				db.Close()
				return fmt.Errorf("atlas: %s and %s cannot be merged: %w", inputs[0], in, &SettingsError{A: inputs[0], B: in, Diffs: d})
			}
		}
		for _, sh := range m.Corpus {
			if prev, ok := shardOf[sh.Hash]; ok {
				db.Close()
				return fmt.Errorf("atlas: %s and %s were both built over corpus path %s (the same content, sha256 %.12s); merging would count its tokens twice", prev, in, sh.Name, sh.Hash)
			}
			shardOf[sh.Hash] = in
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
		removeDB(out)
		return fmt.Errorf("atlas: writing %s: %w", out, err)
	}
	prog := progressRow{Cursor: corpus.Cursor{Shard: len(meta.Corpus)}, Windows: meta.Windows, Tokens: meta.Tokens}
	text := func(id int32) string {
		if s, ok := toks[id]; ok {
			return s
		}
		return tokenizer.Unknown(id)
	}
	if err := writeState(db, meta, hooks, prog, text, true); err != nil {
		return fail(err)
	}
	return db.Close()
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
