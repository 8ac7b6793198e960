package sae

import (
	"os"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
)

// FuzzConfig: any cfg.json either fails with an error or yields a config
// that passes its own checks and survives writing and reading back.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{`{"architecture":"topk","d_in":64,"d_sae":512,"k":8,"metadata":{"hook_name":"h","hook_head_index":2}}`,
		`{"hook_point":"blocks.0.hook_resid_pre","d_in":768,"d_sae":24576,"normalize_activations":false,"activation_fn_str":"relu"}`,
		`{"d_in":8,"d_sae":16,"activation_fn_str":"topk","activation_fn_kwargs":{"k":4}}`, `{}`, `null`, `{"d_in":1e300}`,
		`{"architecture":"jumprelu_skip_transcoder","d_in":8,"d_out":6,"d_sae":16,"metadata":{"hook_name":"a","hook_name_out":"b"}}`,
		`{"architecture":"topk_transcoder","d_in":8,"d_out":6,"d_sae":16,"k":2,"hook_name_out":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("cfg.json", data)
		if err != nil {
			return
		}
		b, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseConfig("cfg.json", b)
		if err != nil {
			t.Fatalf("re-reading %s: %v", b, err)
		}
		if b2, _ := c2.MarshalJSON(); string(b2) != string(b) {
			t.Fatalf("round trip changed %s into %s", b, b2)
		}
	})
}

// FuzzWeights: any sae_weights.safetensors under a fixed config either
// fails with an error or yields tensors of the configured shapes.
func FuzzWeights(f *testing.F) {
	cfg := Config{Architecture: JumpReLU, DIn: 3, DSAE: 5, DType: "float32", NormalizeActivations: "none"}
	fuzzWeights(f, &SAE{Cfg: cfg, WEnc: make([]float32, 15), WDec: make([]float32, 15), BEnc: make([]float32, 5), BDec: make([]float32, 3), Threshold: make([]float32, 5)})
}

// fuzzWeights fuzzes readWeights under s's config, seeded with s's file.
func fuzzWeights(f *testing.F, s *SAE) {
	cfg := s.Cfg
	dir := f.TempDir()
	if err := s.Save(dir); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(dir + "/" + WeightsFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := safetensors.OpenBytes("w", data)
		if err != nil {
			return
		}
		got, err := readWeights(file, "w", cfg)
		if err != nil {
			return
		}
		if err := got.checkShapes(); err != nil {
			t.Fatal(err)
		}
	})
}
