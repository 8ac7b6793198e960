package intervene

import (
	"errors"
	"fmt"
	"io"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
)

// Text says how to read a corpus: paths as package corpus reads them (text
// files, directories, .jsonl, optionally gzipped) and how files split into
// documents.
type Text struct {
	Paths     []string
	DocSep    string // split plain text files into documents here ("" = one per file)
	TextField string // .jsonl field ("text")
	Ctx       int    // window length in tokens
	MaxTokens int    // stop after this many tokens (0 = all)
}

func encoder(m *engine.Model) (func(string) []int32, int32, error) {
	if m.Tokenizer == nil {
		return nil, -1, fmt.Errorf("%s has no tokenizer: corpora need one", m.Name)
	}
	return func(s string) []int32 {
		ids, _ := m.Encode(s, false) // no error: the tokenizer is there
		return ids
	}, m.BOS(), nil
}

// Windows packs a corpus the way the atlas does (corpus.PackingRule: BOS
// at each document start, consecutive windows of Ctx tokens).
func Windows(m *engine.Model, t Text) ([][]int32, error) {
	enc, bos, err := encoder(m)
	if err != nil {
		return nil, err
	}
	ctx := t.Ctx
	if ctx <= 0 {
		ctx = 128
	}
	if mc := m.Dims().MaxCtx; mc > 0 && ctx > mc {
		ctx = mc
	}
	shards, err := corpus.Resolve(t.Paths)
	if err != nil {
		return nil, err
	}
	p, err := corpus.NewPacker(shards, corpus.Options{DocSep: t.DocSep, TextField: t.TextField}, enc, bos, ctx, corpus.Cursor{})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var out [][]int32
	n := 0
	for t.MaxTokens <= 0 || n < t.MaxTokens {
		w, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		ids := w.IDs
		if t.MaxTokens > 0 && n+len(ids) > t.MaxTokens {
			ids = ids[:t.MaxTokens-n]
		}
		if len(ids) > 0 {
			out = append(out, ids)
			n += len(ids)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("corpus %v holds no tokens", t.Paths)
	}
	return out, nil
}

// Documents reads each document as its own row, [BOS]+tokens, cut to Ctx.
func Documents(m *engine.Model, t Text) ([][]int32, error) {
	enc, bos, err := encoder(m)
	if err != nil {
		return nil, err
	}
	ctx := t.Ctx
	if mc := m.Dims().MaxCtx; ctx <= 0 || (mc > 0 && ctx > mc) {
		ctx = m.Dims().MaxCtx
	}
	shards, err := corpus.Resolve(t.Paths)
	if err != nil {
		return nil, err
	}
	var out [][]int32
	for _, sh := range shards {
		for _, f := range sh.Files {
			r, err := f.Open(corpus.Options{DocSep: t.DocSep, TextField: t.TextField})
			if err != nil {
				return nil, err
			}
			for {
				doc, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					r.Close()
					return nil, err
				}
				toks := enc(doc)
				if len(toks) == 0 {
					continue
				}
				row := toks
				if bos >= 0 {
					row = append([]int32{bos}, toks...)
				}
				if ctx > 0 && len(row) > ctx {
					row = row[:ctx]
				}
				out = append(out, row)
			}
			r.Close()
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("corpus %v holds no documents", t.Paths)
	}
	return out, nil
}

// Batches runs rows of different lengths in right-padded batches of up to
// size rows (the mask hides the padding) and calls fn with each result and
// the rows it holds.
func Batches(m *engine.Model, rows [][]int32, size int, req engine.Request, fn func(res *engine.Result, rows [][]int32, width int) error) error {
	if size <= 0 {
		size = 8
	}
	for start := 0; start < len(rows); start += size {
		chunk := rows[start:min(start+size, len(rows))]
		width := 0
		for _, r := range chunk {
			width = max(width, len(r))
		}
		ids := make([][]int32, len(chunk))
		mask := make([][]bool, len(chunk))
		pad := false
		for i, r := range chunk {
			ids[i] = make([]int32, width)
			mask[i] = make([]bool, width)
			copy(ids[i], r)
			for j := range r {
				mask[i][j] = true
			}
			pad = pad || len(r) < width
		}
		q := req
		q.IDs = ids
		if pad {
			q.Mask = mask
		}
		res, err := m.Run(q)
		if err != nil {
			return err
		}
		if err := fn(res, chunk, width); err != nil {
			return err
		}
	}
	return nil
}

// HookMeans is the mean over every real position of rows of each hook's
// per-position value (hooks laid out [batch, pos, ...]).
func HookMeans(m *engine.Model, rows [][]int32, hooks []string, batch int) (map[string][]float32, error) {
	sums := map[string][]float64{}
	for _, h := range hooks {
		lay, err := HookLayout(m, h)
		if err != nil {
			return nil, err
		}
		if lay.PosAxis != 1 {
			return nil, fmt.Errorf("%s is laid out by query and key position: it has no per-position mean", h)
		}
		sums[h] = make([]float64, prod(lay.Rest()))
	}
	count := 0
	err := Batches(m, rows, batch, engine.Request{Hooks: hooks, NoLogits: true}, func(res *engine.Result, chunk [][]int32, width int) error {
		for _, h := range hooks {
			s, data := sums[h], res.Acts[h].Data
			per := len(s)
			for b, r := range chunk {
				for p := range r {
					off := (b*width + p) * per
					for i := range per {
						s[i] += float64(data[off+i])
					}
				}
			}
		}
		for _, r := range chunk {
			count += len(r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for h, s := range sums {
		v := make([]float32, len(s))
		for i := range s {
			v[i] = float32(s[i] / float64(count))
		}
		out[h] = v
	}
	return out, nil
}

// CorpusMeans computes hook means over a reference corpus on demand, once
// per hook.
type CorpusMeans struct {
	Text  Text
	Batch int
	rows  [][]int32
	cache map[string][]float32
}

func (c *CorpusMeans) Name() string {
	return fmt.Sprintf("corpus:%v:%d:%d", c.Text.Paths, c.Text.Ctx, c.Text.MaxTokens)
}

func (c *CorpusMeans) Mean(m *engine.Model, hook string) ([]float32, error) {
	if v, ok := c.cache[hook]; ok {
		return v, nil
	}
	if c.rows == nil {
		rows, err := Windows(m, c.Text)
		if err != nil {
			return nil, fmt.Errorf("mean corpus: %w", err)
		}
		c.rows = rows
	}
	means, err := HookMeans(m, c.rows, []string{hook}, c.Batch)
	if err != nil {
		return nil, err
	}
	if c.cache == nil {
		c.cache = map[string][]float32{}
	}
	c.cache[hook] = means[hook]
	return means[hook], nil
}

// FixedMeans serves means already computed (e.g. read from an atlas).
type FixedMeans struct {
	Source string
	Means  map[string][]float32
}

func (f *FixedMeans) Name() string { return f.Source }

func (f *FixedMeans) Mean(m *engine.Model, hook string) ([]float32, error) {
	v, ok := f.Means[hook]
	if !ok {
		return nil, fmt.Errorf("%s holds no means for %s", f.Source, hook)
	}
	return v, nil
}
