package cli

import (
	"fmt"
	"strings"

	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/sae"
)

func init() {
	Register(&Command{Name: "sae encode", Summary: "run an SAE on recorded activations: feature activations and reconstructions", Run: saeEncode})
}

// saeEncode reads activation vectors from a safetensors file and writes the
// SAE's feature activations (feature_acts) and reconstructions (sae_out):
// what a comparison with SAELens's encode/decode needs.
func saeEncode(args []string) error {
	fs := newFlags("sae encode")
	dir := fs.String("sae", "", "SAE directory")
	in := fs.String("in", "", "input FILE.safetensors[:TENSOR] of shape [n, d_in] (default tensor: the only one, or x)")
	out := fs.String("out", "", "output .safetensors with feature_acts [n, d_sae] and sae_out [n, d_in] (a transcoder's [n, d_out], W_skip·x included)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || *in == "" || *out == "" {
		return usagef("give --sae DIR, --in FILE.safetensors and --out FILE.safetensors")
	}
	s, err := sae.Load(*dir)
	if err != nil {
		return err
	}
	path, name, _ := strings.Cut(*in, ":")
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if name == "" {
		name = "x"
		if ns := f.Names(); len(ns) == 1 {
			name = ns[0]
		}
	}
	shape, ok := f.Shape(name)
	if !ok || len(shape) != 2 || shape[1] != s.Cfg.DIn {
		return fmt.Errorf("%s: tensor %q is %v; want [n, d_in = %d]", path, name, shape, s.Cfg.DIn)
	}
	x, err := f.Float32(name)
	if err != nil {
		return err
	}
	acts, recon := s.Forward(x, shape[0])
	return safetensors.Write(*out, []safetensors.Tensor{
		{Name: "feature_acts", Shape: []int{shape[0], s.Cfg.DSAE}, Data: acts},
		{Name: "sae_out", Shape: []int{shape[0], s.Cfg.OutWidth()}, Data: recon}}, nil)
}
