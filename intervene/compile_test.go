package intervene

import (
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format"
	"github.com/glia-dev/glia/format/safetensors"
)

var (
	fixMu    sync.Mutex
	fixtures = map[string]*engine.Model{}
)

// fixture loads testdata/hf-tiny/<fam> once per test binary.
func fixture(t testing.TB, fam string) *engine.Model {
	t.Helper()
	fixMu.Lock()
	defer fixMu.Unlock()
	if m, ok := fixtures[fam]; ok {
		return m
	}
	m, err := engine.Load("../testdata/hf-tiny/" + fam)
	if err != nil {
		t.Fatal(err)
	}
	fixtures[fam] = m
	return m
}

func run(t testing.TB, m *engine.Model, ids [][]int32, hooks []string, specs ...string) *engine.Result {
	t.Helper()
	var ivs []engine.Intervention
	for _, s := range specs {
		sp, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		iv, err := sp.Compile(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ivs = append(ivs, iv)
	}
	r, err := m.Run(engine.Request{IDs: ids, Hooks: hooks, Interventions: ivs})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// override serves one tensor from memory and the rest from a source.
type override struct {
	format.TensorSource
	name string
	data []float32
}

func (o override) Float32(name string) ([]float32, error) {
	if name == o.name {
		return o.data, nil
	}
	return o.TensorSource.Float32(name)
}

// TestZeroAblationEqualsRemovedWeights: zeroing neuron n of mlp.hook_post
// gives the logits of the model whose down projection lacks neuron n.
func TestZeroAblationEqualsRemovedWeights(t *testing.T) {
	for _, tc := range []struct {
		fam, weight string
		rowMajor    bool // neuron n is row n (Conv1D [d_mlp, d_model]), else column n
	}{
		{"gpt2", "h.1.mlp.c_proj.weight", true},
		{"llama", "model.layers.1.mlp.down_proj.weight", false},
	} {
		t.Run(tc.fam, func(t *testing.T) {
			const n = 5
			m := fixture(t, tc.fam)
			dir := "../testdata/hf-tiny/" + tc.fam
			cfg, err := arch.ReadConfig(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			src, err := safetensors.OpenModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			name := tc.weight
			if _, ok := src.Shape(name); !ok {
				name = "transformer." + name
			}
			shape, ok := src.Shape(name)
			if !ok {
				t.Fatalf("no %s in the fixture", tc.weight)
			}
			w, err := src.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			w = append([]float32(nil), w...)
			for i := range w {
				r, c := i/shape[1], i%shape[1]
				if (tc.rowMajor && r == n) || (!tc.rowMajor && c == n) {
					w[i] = 0
				}
			}
			cut, err := engine.FromSource("cut", cfg, override{src, name, w})
			if err != nil {
				t.Fatal(err)
			}
			ids := [][]int32{{3, 1, 4, 1, 5, 9, 2, 6}}
			want, err := cut.Run(engine.Request{IDs: ids})
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, m, ids, nil, "blocks.1.mlp.hook_post[:,5]=0")
			base := run(t, m, ids, nil)
			if d := maxAbsDiff(got.Logits.Data, want.Logits.Data); d > 1e-5 {
				t.Errorf("zero ablation differs from the cut model by %.3g", d)
			}
			if d := maxAbsDiff(base.Logits.Data, want.Logits.Data); d < 1e-6 {
				t.Errorf("neuron %d has no effect (%.3g): the test proves nothing", n, d)
			}
		})
	}
}

// TestSteerResidPostEqualsNextInput: adding v at blocks.0.hook_resid_post
// equals adding it to block 1's input, and to the embedding of a 1-layer
// prefix (checked directly: resid_pre of block 1 moves by exactly v).
func TestSteerResidPostEqualsNextInput(t *testing.T) {
	for _, fam := range []string{"gpt2", "llama"} {
		t.Run(fam, func(t *testing.T) {
			m := fixture(t, fam)
			d := m.Dims().DModel
			vec := make([]float32, d)
			for i := range vec {
				vec[i] = float32(math.Sin(float64(i))) * 0.5
			}
			path := filepath.Join(t.TempDir(), "v.safetensors")
			if err := safetensors.Write(path, []safetensors.Tensor{{Name: "dog", Shape: []int{d}, Data: vec}}, nil); err != nil {
				t.Fatal(err)
			}
			ids := [][]int32{{7, 8, 9, 10, 11}}
			h := "blocks.1.hook_resid_pre"
			base := run(t, m, ids, []string{h})
			a := run(t, m, ids, []string{h}, "blocks.0.hook_resid_post[-1]+=2*@"+path+":dog")
			b := run(t, m, ids, []string{h}, "blocks.1.hook_resid_pre[-1]+=2*@"+path+":dog")
			if dd := maxAbsDiff(a.Logits.Data, b.Logits.Data); dd > 1e-5 {
				t.Errorf("steering resid_post differs from steering the next block's input by %.3g", dd)
			}
			// resid_pre of block 1 moved by exactly 2v at the last position only.
			ba, aa := base.Acts[h].Data, a.Acts[h].Data
			for p := range 5 {
				for i := range d {
					want := ba[p*d+i]
					if p == 4 {
						want += 2 * vec[i]
					}
					if math.Abs(float64(aa[p*d+i]-want)) > 1e-5 {
						t.Fatalf("resid_pre[%d,%d] = %g, want %g", p, i, aa[p*d+i], want)
					}
				}
			}
			if dd := maxAbsDiff(a.Logits.Data, base.Logits.Data); dd < 1e-4 {
				t.Errorf("steering changed nothing (%.3g)", dd)
			}
		})
	}
}

// TestOps checks set, scale, add and the head selection on values read back.
func TestOps(t *testing.T) {
	m := fixture(t, "gpt2")
	ids := [][]int32{{1, 2, 3, 4}}
	h := "blocks.0.mlp.hook_post"
	base := run(t, m, ids, []string{h}).Acts[h]
	w := base.Shape[2]
	for _, tc := range []struct {
		spec string
		f    func(p, u int, x float32) float32
	}{
		{h + "[:,3]=0", func(p, u int, x float32) float32 { return sel(u == 3, 0, x) }},
		{h + "[1:3][3,5]*=4", func(p, u int, x float32) float32 { return sel((p == 1 || p == 2) && (u == 3 || u == 5), 4*x, x) }},
		{h + "[-1]+=1.5", func(p, u int, x float32) float32 { return sel(p == 3, x+1.5, x) }},
		{h + "[0,-1]=7", func(p, u int, x float32) float32 { return sel(p == 0 && u == w-1, 7, x) }},
	} {
		got := run(t, m, ids, []string{h}, tc.spec).Acts[h]
		for p := range 4 {
			for u := range w {
				want := tc.f(p, u, base.Data[p*w+u])
				if g := got.Data[p*w+u]; math.Abs(float64(g-want)) > 1e-5 {
					t.Fatalf("%s: [%d,%d] = %g, want %g", tc.spec, p, u, g, want)
				}
			}
		}
	}
	// Heads of hook_z.
	z := "blocks.1.attn.hook_z"
	bz := run(t, m, ids, []string{z}).Acts[z]
	gz := run(t, m, ids, []string{z}, z+"[:,head=2]=0").Acts[z]
	heads, dh := bz.Shape[2], bz.Shape[3]
	for i, v := range gz.Data {
		head := (i / dh) % heads
		want := bz.Data[i]
		if head == 2 {
			want = 0
		}
		if v != want {
			t.Fatalf("hook_z[%d] = %g, want %g (head %d)", i, v, want, head)
		}
	}
}

func sel(c bool, a, b float32) float32 {
	if c {
		return a
	}
	return b
}

func TestCompileErrors(t *testing.T) {
	m := fixture(t, "gpt2")
	for _, tc := range []struct{ spec, want string }{
		{"blocks.9.mlp.hook_post[:,1]=0", `no hook point "blocks.9.mlp.hook_post"`},
		{"blocks.1.mlp.hook_postt[:,1]=0", "did you mean blocks.1.mlp.hook_pre, blocks.1.mlp.hook_post"},
		{"blocks.1.mlp.hook_post[:,256]=0", "unit index 256 is out of range [0,256) of blocks.1.mlp.hook_post"},
		{"blocks.1.attn.hook_z[:,head=4]=0", "head index 4 is out of range [0,4)"},
		{"blocks.1.mlp.hook_post[:,1]=mean", "needs a reference"},
		{"blocks.1.hook_resid_post+=@/nonexistent.safetensors:x", "nonexistent.safetensors"},
	} {
		s, err := Parse(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Compile(m, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.spec, err, tc.want)
		}
	}
	// Positions are checked against the sequence the graph is built for.
	s, _ := Parse("blocks.1.mlp.hook_post[9,1]=0")
	iv, err := s.Compile(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Run(engine.Request{IDs: [][]int32{{1, 2, 3}}, Interventions: []engine.Intervention{iv}})
	if err == nil || !strings.Contains(err.Error(), "position index 9 is out of range [0,3)") {
		t.Errorf("position out of range: got %v", err)
	}
}

// TestResample: resampling from another input sets the hook to that input's
// value; resampling within a batch takes another row's.
func TestResample(t *testing.T) {
	m := fixture(t, "llama")
	h := "blocks.0.hook_resid_post"
	other := []int32{20, 21, 22, 23}
	ref := run(t, m, [][]int32{other}, []string{h}).Acts[h]
	s, _ := Parse(h + "[:]=resample")
	iv, err := s.Compile(m, Options{ResampleIDs: other})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Run(engine.Request{IDs: [][]int32{{1, 2, 3, 4}}, Hooks: []string{h}, Interventions: []engine.Intervention{iv}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(r.Acts[h].Data, ref.Data); d > 1e-6 {
		t.Errorf("resampled hook differs from the other input's by %.3g", d)
	}
	iv, err = s.Compile(m, Options{Seed: 0})
	if err != nil {
		t.Fatal(err)
	}
	two := [][]int32{{1, 2, 3, 4}, {20, 21, 22, 23}}
	base := run(t, m, two, []string{h}).Acts[h]
	r, err = m.Run(engine.Request{IDs: two, Hooks: []string{h}, Interventions: []engine.Intervention{iv}})
	if err != nil {
		t.Fatal(err)
	}
	n := len(base.Data) / 2
	if d := maxAbsDiff(r.Acts[h].Data[:n], base.Data[n:]); d > 1e-6 {
		t.Errorf("row 0 did not take row 1's value (%.3g)", d)
	}
}
