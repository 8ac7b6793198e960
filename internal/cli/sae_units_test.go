package cli

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/sae"
)

// TestSAEFeaturesAreUnits: with --sae an SAE's features are hook points
// every command takes: glia run reads them (equal to the SAE's own Encode of
// the hook's values) and edits them, the unedited model is unchanged, and
// atlas build records them as units.
func TestSAEFeaturesAreUnits(t *testing.T) {
	tmp := t.TempDir()
	const h = "blocks.0.hook_resid_post"
	const feat = h + ".hook_sae_acts_post"
	if _, errs, code := runCLI(t, "", "sae", "train", "--hook", h, "--arch", "topk", "--k", "4", "--d-sae", "64", "--batch", "128",
		"--buffer", "512", "--ctx", "32", "--windows", "4", "--steps", "6", "--out", tmp); code != 0 {
		t.Fatalf("sae train: %s", errs)
	}
	dir := filepath.Join(tmp, h)
	s, err := sae.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) map[string][]float32 {
		f, err := safetensors.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out := map[string][]float32{}
		for _, n := range f.Names() {
			if out[n], err = f.Float32(n); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	const prompt = "Once upon a time, there was a little girl named Lily."
	plain, with, edited := filepath.Join(tmp, "plain.st"), filepath.Join(tmp, "with.st"), filepath.Join(tmp, "edited.st")
	for _, args := range [][]string{
		{"run", "--prompt", prompt, "--hook", h, "--save", plain},
		{"run", "--prompt", prompt, "--sae", dir, "--hook", feat, "--save", with},
		{"run", "--prompt", prompt, "--sae", dir, "--intervene", feat + "[:,3]=20", "--save", edited},
	} {
		if _, errs, code := runCLI(t, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	p, w, e := read(plain), read(with), read(edited)
	if d := maxAbsDiff(p["logits"], w["logits"]); d != 0 {
		t.Errorf("--sae unedited changes the logits by %g", d)
	}
	x := p[h]
	if d := maxAbsDiff(w[feat], s.Encode(x, len(x)/s.Cfg.DIn)); d > 1e-4 {
		t.Errorf("the feature hook differs from the SAE's Encode by %g", d)
	}
	if d := maxAbsDiff(p["logits"], e["logits"]); d < 1e-3 {
		t.Errorf("setting feature 3 to 20 changed the logits by only %g", d)
	}
	db := filepath.Join(tmp, "atlas.db")
	if _, errs, code := runCLI(t, "", "atlas", "build", "--sae", dir, "--hooks", feat, "--ctx", "32", "--max-tokens", "1024", "--top-k", "3", "--out", db); code != 0 {
		t.Fatalf("atlas build --sae: %s", errs)
	}
	out, errs, code := runCLI(t, "", "atlas", "show", "--db", db, "--json", feat+":0")
	if code != 0 {
		t.Fatalf("atlas show: %s", errs)
	}
	var unit struct {
		Hook  string `json:"hook"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal([]byte(out), &unit); err != nil || unit.Hook != feat || unit.Count == 0 {
		t.Errorf("atlas show of a feature: %v, %.200s", err, out)
	}
	// explain gives a feature the logit lens of its decoder row.
	out, errs, code = runCLI(t, "", "explain", "--db", db, "--sae", dir, "--json", feat+":0")
	var ex struct {
		Lens *struct {
			Promoted []struct{} `json:"promoted"`
		} `json:"lens"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ex) != nil || ex.Lens == nil || len(ex.Lens.Promoted) == 0 {
		t.Errorf("explain --sae of a feature: exit %d: %s %.300s", code, errs, out)
	}
	// An SAE trained on another model is refused, naming both.
	if _, errs, code := runCLI(t, "", "run", "--model", "../../testdata/trained/modadd53", "--prompt", "1 2 =", "--sae", dir); code == 0 || !strings.Contains(errs, `trained on model "stories260K`) || !strings.Contains(errs, "modadd53") {
		t.Errorf("--sae on a model it does not fit: exit %d: %s", code, errs)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// TestSAEOnHookZ: an attention-output SAE (hook_z, heads concatenated as
// SAELens's reshape_activations "hook_z") attaches like any other: its
// features equal its Encode of the flattened heads and the unedited model
// is unchanged.
func TestSAEOnHookZ(t *testing.T) {
	tmp := t.TempDir()
	const h = "blocks.0.attn.hook_z"
	if _, errs, code := runCLI(t, "", "sae", "train", "--hook", h, "--arch", "topk", "--k", "4", "--d-sae", "64", "--batch", "128",
		"--buffer", "512", "--ctx", "32", "--windows", "4", "--steps", "4", "--out", tmp); code != 0 {
		t.Fatalf("sae train: %s", errs)
	}
	dir := filepath.Join(tmp, h)
	s, err := sae.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cfg.ReshapeActivations != "hook_z" {
		t.Errorf("reshape_activations %q, want hook_z", s.Cfg.ReshapeActivations)
	}
	plain, with := filepath.Join(tmp, "plain.st"), filepath.Join(tmp, "with.st")
	for _, args := range [][]string{
		{"run", "--prompt", "Once upon a time", "--hook", h, "--save", plain},
		{"run", "--prompt", "Once upon a time", "--sae", dir, "--hook", h + ".hook_sae_acts_post", "--save", with},
	} {
		if _, errs, code := runCLI(t, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	read := func(path, name string) []float32 {
		f, err := safetensors.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		v, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if d := maxAbsDiff(read(plain, "logits"), read(with, "logits")); d != 0 {
		t.Errorf("--sae on hook_z unedited changes the logits by %g", d)
	}
	z := read(plain, h)
	if d := maxAbsDiff(read(with, h+".hook_sae_acts_post"), s.Encode(z, len(z)/s.Cfg.DIn)); d > 1e-4 {
		t.Errorf("hook_z features differ from Encode by %g", d)
	}
}
