package cli

import (
	"fmt"
	"io"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/sae"
	"github.com/glia-dev/glia/sae/snmf"
	"gonum.org/v1/gonum/mat"
)

func init() {
	Register(&Command{Name: "sae snmf", Summary: "semi-nonnegative factorisation of a hook's activations (MLP neurons) over a corpus", Args: "[CORPUS...]", Run: saeSNMF})
}

func saeSNMF(args []string) error {
	fs := newFlags("sae snmf")
	var mf modelFlags
	mf.register(fs)
	var paths stringList
	hook := fs.String("hook", "", "hook whose activations to factorise (e.g. blocks.2.mlp.hook_post)")
	fs.Var(&paths, "corpus", "corpus path (repeatable; default: the embedded stories)")
	docSep := fs.String("doc-sep", "", "split plain-text corpus files into documents at this string")
	o := snmf.Options{}
	fs.IntVar(&o.Rank, "rank", 32, "features (columns of F)")
	fs.Float64Var(&o.Keep, "keep", 0, "fraction of each feature's neurons kept by magnitude (0: all)")
	fs.StringVar(&o.Init, "init", "svd", "initialisation of G: random, svd or kmeans")
	fs.IntVar(&o.MaxIter, "iters", 500, "most iterations")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	tokens := fs.Int("tokens", 4096, "activation vectors (tokens) to factorise")
	ctx := fs.Int("ctx", 128, "tokens per corpus window")
	out := fs.String("out", "", "write F [d, rank] and G [tokens, rank] to this .safetensors")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *hook == "" || *tokens <= 0 {
		return usagef("missing --hook: give the hook to factorise (e.g. --hook blocks.2.mlp.hook_post) and a positive --tokens")
	}
	shards, copt, _, err := saeShards(paths, *docSep)
	if err != nil {
		return err
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	d, err := sae.HookWidth(m, *hook)
	if err != nil {
		return err
	}
	var rows []float64
	err = windowBatches(m, shards, copt, *ctx, 8, corpus.Cursor{}, func(ids [][]int32, _ corpus.Cursor) error {
		r, err := m.Run(engine.Request{IDs: ids, Hooks: []string{*hook}, NoLogits: true})
		if err != nil {
			return err
		}
		for _, v := range r.Acts[*hook].Data {
			if len(rows) == *tokens*d {
				return io.EOF
			}
			rows = append(rows, float64(v))
		}
		if len(rows) == *tokens*d {
			return io.EOF
		}
		return nil
	})
	if err != nil {
		return err
	}
	n := len(rows) / d
	a := mat.NewDense(n, d, rows).T()
	res, err := snmf.Factorize(mat.DenseCopyOf(a), o)
	if err != nil {
		return err
	}
	fmt.Fprintf(Stdout, "%s of %s over %d tokens: rank %d, %s start, keep %g: relative error ‖A − F·Gᵀ‖/‖A‖ %.4f after %d iterations\n",
		*hook, m.Name, n, o.Rank, o.Init, o.Keep, res.RelErr, res.Iters)
	if *out == "" {
		return nil
	}
	f32 := func(x *mat.Dense) []float32 {
		r, c := x.Dims()
		v := make([]float32, 0, r*c)
		for i := range r {
			for j := range c {
				v = append(v, float32(x.At(i, j)))
			}
		}
		return v
	}
	return safetensors.Write(*out, []safetensors.Tensor{{Name: "F", Shape: []int{d, o.Rank}, Data: f32(res.F)}, {Name: "G", Shape: []int{n, o.Rank}, Data: f32(res.G)}},
		map[string]string{"model": m.Name, "hook": *hook, "init": o.Init})
}
