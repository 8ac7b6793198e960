package sae

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
)

func TestParseConfig(t *testing.T) {
	head := 3
	for _, tc := range []struct {
		name, js string
		want     Config
	}{
		{"v6 topk", `{"architecture":"topk","d_in":64,"d_sae":512,"dtype":"float32","device":"cpu","apply_b_dec_to_input":true,
			"normalize_activations":"none","reshape_activations":"none","k":8,"rescale_acts_by_decoder_norm":true,
			"metadata":{"model_name":"gpt2","hook_name":"blocks.3.hook_resid_post","hook_head_index":null,"prepend_bos":true,
			"context_size":128,"sae_lens_version":"6.5.0","model_from_pretrained_kwargs":{}}}`,
			Config{Architecture: TopK, DIn: 64, DSAE: 512, DType: "float32", Device: "cpu", ApplyBDecToInput: true, NormalizeActivations: "none",
				ReshapeActivations: "none", K: 8, RescaleActsByDecNorm: true,
				Metadata: Metadata{ModelName: "gpt2", HookName: "blocks.3.hook_resid_post", PrependBOS: true, ContextSize: 128, SAELensVersion: "6.5.0"}}},
		{"pre-v6 flat (jbloom/GPT2-Small-SAEs-Reformatted)", `{"model_name":"gpt2-small","hook_point":"blocks.0.hook_resid_pre","hook_point_layer":0,
			"hook_point_head_index":null,"d_in":768,"d_sae":24576,"dtype":"torch.float32","device":"cuda","prepend_bos":true,
			"context_size":128,"dataset_path":"Skylion007/openwebtext","normalize_activations":false,"apply_b_dec_to_input":true,
			"activation_fn_str":"relu","sae_lens_training_version":null}`,
			Config{Architecture: Standard, DIn: 768, DSAE: 24576, DType: "torch.float32", Device: "cuda", ApplyBDecToInput: true, NormalizeActivations: "none",
				ReshapeActivations: "none", Metadata: Metadata{ModelName: "gpt2-small", HookName: "blocks.0.hook_resid_pre", PrependBOS: true, ContextSize: 128,
					DatasetPath: "Skylion007/openwebtext"}}},
		{"pre-v6 topk kwargs, attention head, bool normalisation", `{"model_name":"m","hook_name":"blocks.1.attn.hook_z","hook_head_index":3,
			"d_in":8.0,"d_sae":16,"activation_fn_str":"topk","activation_fn_kwargs":{"k":4},"normalize_activations":true,"apply_b_dec_to_input":false}`,
			Config{Architecture: TopK, DIn: 8, DSAE: 16, DType: "float32", Device: "cpu", NormalizeActivations: "expected_average_only_in",
				ReshapeActivations: "hook_z", K: 4, Metadata: Metadata{ModelName: "m", HookName: "blocks.1.attn.hook_z", HookHeadIndex: &head, PrependBOS: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig("cfg.json", []byte(tc.js))
			if err != nil {
				t.Fatal(err)
			}
			got.Extra = nil
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func mustJSON(t *testing.T, c Config) string {
	t.Helper()
	b, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ js, want string }{
		{`[1]`, "not a JSON object"},
		{`{"d_in":0,"d_sae":4}`, `key "d_in": is 0`},
		{`{"d_in":4,"d_sae":4.5}`, `key "d_sae": is 4.5, not an integer`},
		{`{"d_in":4,"d_sae":4,"architecture":"gated"}`, `"gated" is not one glia reads`},
		{`{"d_in":4,"d_sae":4,"architecture":"topk","k":9}`, `key "k": is 9`},
		{`{"d_in":4,"d_sae":4,"metadata":{"hook_name":7}}`, `key "metadata.hook_name": has the wrong type`},
		{`{"d_in":4,"d_sae":4,"normalize_activations":"zscore"}`, `"zscore" is not none`},
	} {
		_, err := ParseConfig("x/cfg.json", []byte(tc.js))
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sae: x/cfg.json") {
			t.Errorf("%s: error %v, want an *Error containing %q", tc.js, err, tc.want)
		}
	}
}

// trainedSAE is a small trained dictionary of each inference architecture.
func trainedSAE(t *testing.T, arch string) *SAE {
	t.Helper()
	p := newPlanted(8, 16, 2, 4)
	o := DefaultOptions(arch, 8, 32)
	o.K, o.Hyper.LR = 3, 1e-2
	tr, err := NewTrainer(o)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := tr.TrainStep(p.batch(64), 64); err != nil {
			t.Fatal(err)
		}
	}
	return tr.SAE(Metadata{ModelName: "m", HookName: "blocks.0.hook_resid_post", ContextSize: 16})
}

// TestSaveLoad writes each architecture and reads it back: the same
// weights, and the same activations and reconstructions as the trainer's.
func TestSaveLoad(t *testing.T) {
	for _, arch := range []string{Standard, TopK, BatchTopK, JumpReLU, Matryoshka} {
		t.Run(arch, func(t *testing.T) {
			s := trainedSAE(t, arch)
			dir := t.TempDir()
			if err := s.Save(dir); err != nil {
				t.Fatal(err)
			}
			got, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range [][2][]float32{{s.WEnc, got.WEnc}, {s.WDec, got.WDec}, {s.BEnc, got.BEnc}, {s.BDec, got.BDec}, {s.Threshold, got.Threshold}, {s.Sparsity, got.Sparsity}} {
				if !slices.Equal(p[0], p[1]) {
					t.Fatalf("a tensor changed in the round trip")
				}
			}
			x := newPlanted(8, 16, 2, 9).batch(10)
			a1, r1 := s.Forward(x, 10)
			a2, r2 := got.Forward(x, 10)
			if !slices.Equal(a1, a2) || !slices.Equal(r1, r2) {
				t.Fatal("the loaded SAE computes differently")
			}
			if _, err := LoadFor(dir, "m", "blocks.0.hook_resid_post"); err != nil {
				t.Fatal(err)
			}
			_, err = LoadFor(dir, "other", "blocks.1.hook_resid_post")
			var me *MismatchError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), `model "m" at hook "blocks.0.hook_resid_post"`) || !strings.Contains(err.Error(), `model "other" at hook "blocks.1.hook_resid_post"`) {
				t.Fatalf("mismatch error %v does not name both", err)
			}
		})
	}
}

// TestFoldKeepsReconstruction: the saved SAE (decoder rows folded to unit
// norm, batchtopk as jumprelu) reconstructs like the trainer's own pass.
func TestFoldKeepsReconstruction(t *testing.T) {
	for _, arch := range []string{Standard, TopK, JumpReLU} {
		p := newPlanted(8, 16, 2, 4)
		o := DefaultOptions(arch, 8, 32)
		o.K, o.Hyper.LR = 3, 1e-2
		tr, _ := NewTrainer(o)
		for range 30 {
			tr.TrainStep(p.batch(64), 64)
		}
		x := p.batch(32)
		st, _ := tr.pass(x, 32, false)
		s := tr.SAE(Metadata{})
		_, recon := s.Forward(x, 32)
		var sse float64
		for i := range x {
			d := float64(recon[i] - x[i])
			sse += d * d
		}
		if diff := sse/32 - st.MSE; diff > 1e-4*st.MSE+1e-6 || diff < -1e-4*st.MSE-1e-6 {
			t.Errorf("%s: saved SAE's MSE %.6g, trainer's %.6g", arch, sse/32, st.MSE)
		}
		for i, nv := range rowNorms(s.WDec, 32, 8) {
			if nv < 0.9999 || nv > 1.0001 {
				t.Fatalf("%s: decoder row %d has norm %g after folding", arch, i, nv)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	s := trainedSAE(t, TopK)
	dir := t.TempDir()
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	// W_dec of the wrong shape.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, CfgFile), []byte(`{"architecture":"topk","d_in":8,"d_sae":32,"k":3}`), 0o644)
	safetensors.Write(filepath.Join(bad, WeightsFile), []safetensors.Tensor{
		{Name: "W_enc", Shape: []int{8, 32}, Data: s.WEnc}, {Name: "W_dec", Shape: []int{8, 32}, Data: s.WDec},
		{Name: "b_enc", Shape: []int{32}, Data: s.BEnc}, {Name: "b_dec", Shape: []int{8}, Data: s.BDec}}, nil)
	_, err := Load(bad)
	if err == nil || !strings.Contains(err.Error(), `tensor "W_dec": has shape [8 32]; cfg.json's d_in and d_sae make it [32 8]`) {
		t.Errorf("wrong shape: %v", err)
	}
	// jumprelu without a threshold.
	os.WriteFile(filepath.Join(bad, CfgFile), []byte(`{"architecture":"jumprelu","d_in":8,"d_sae":32}`), 0o644)
	safetensors.Write(filepath.Join(bad, WeightsFile), []safetensors.Tensor{
		{Name: "W_enc", Shape: []int{8, 32}, Data: s.WEnc}, {Name: "W_dec", Shape: []int{32, 8}, Data: s.WDec},
		{Name: "b_enc", Shape: []int{32}, Data: s.BEnc}, {Name: "b_dec", Shape: []int{8}, Data: s.BDec}}, nil)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "needs a threshold") {
		t.Errorf("no threshold: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "cannot read the SAE's config") {
		t.Errorf("empty dir: %v", err)
	}
}
