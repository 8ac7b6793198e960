package explain

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// TestLensMatchesEngine checks the lens against the model itself: with the
// per-token norm scales pinned to 1, the change in logits when the last
// layer's MLP activation goes from 0 to c·e_i must be c times the lens vector
// of neuron i (later layers would add indirect effects; there are none after
// the last layer).
func TestLensMatchesEngine(t *testing.T) {
	for _, fam := range []string{"llama", "gpt2", "gemma", "gemma2", "gemma3", "olmo2", "gpt_neox", "phi3", "qwen3", "mistral", "qwen2"} {
		t.Run(fam, func(t *testing.T) {
			m, err := engine.Load("../testdata/hf-tiny/" + fam)
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewLensPlan(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := m.Dims()
			last := d.Layers - 1
			const c = 3.0
			unit := 5 % d.DMLP
			lens := m.Family.(arch.Lensed).Lens()
			run := func(scale float32) []float32 {
				onehot := make([]float32, d.DMLP)
				onehot[unit] = scale
				ivs := []engine.Intervention{
					{Hook: fmt.Sprintf("blocks.%d.mlp.hook_post", last), Key: fmt.Sprint("onehot", scale), Fn: func(x *Node) *Node {
						return Add(ZerosLike(x), ExpandLeftToRank(Const(x.Graph(), onehot), x.Rank()))
					}},
					{Hook: "ln_final.hook_scale", Key: "ones", Fn: OnesLike},
				}
				if lens.MLPPostNorm != "" {
					ivs = append(ivs, engine.Intervention{Hook: fmt.Sprintf("blocks.%d.ln2_post.hook_scale", last), Key: "ones", Fn: OnesLike})
				}
				res, err := m.Run(engine.Request{IDs: [][]int32{{1, 2, 3}}, Interventions: ivs})
				if err != nil {
					t.Fatal(err)
				}
				row := res.Logits.Data[2*d.Vocab : 3*d.Vocab]
				if cap := lens.LogitSoftCap; cap > 0 {
					for i, v := range row {
						row[i] = float32(float64(cap) * math.Atanh(float64(v)/cap))
					}
				}
				return row
			}
			base, hot := run(0), run(c)
			nl, err := p.Neuron(last, unit, 20)
			if err != nil {
				t.Fatal(err)
			}
			vs, _ := p.Writing(last, []int{unit})
			want := p.Logits(vs[0])
			var maxAbs, maxDiff float64
			for i := range want {
				got := float64(hot[i]-base[i]) / c
				maxAbs = max(maxAbs, math.Abs(float64(want[i])))
				maxDiff = max(maxDiff, math.Abs(got-float64(want[i])))
			}
			if maxDiff > 1e-3*maxAbs+1e-5 {
				t.Fatalf("lens differs from the engine by %g (logits up to %g)", maxDiff, maxAbs)
			}
			// The batched (matmul) path agrees with the direct one.
			var got *NeuronLens
			if _, err := p.Layer(last, []int{unit}, 20, func(r *NeuronLens) error { got = r; return nil }); err != nil {
				t.Fatal(err)
			}
			for i := range nl.Promoted {
				if got.Promoted[i].Token != nl.Promoted[i].Token && math.Abs(float64(got.Promoted[i].Logit-nl.Promoted[i].Logit)) > 1e-5 {
					t.Fatalf("promoted %d: matmul %v, direct %v", i, got.Promoted[i], nl.Promoted[i])
				}
			}
			if nl.Promoted[0].Logit < nl.Promoted[len(nl.Promoted)-1].Logit || nl.Suppressed[0].Logit > nl.Suppressed[len(nl.Suppressed)-1].Logit {
				t.Fatal("lens tokens out of order")
			}
			t.Logf("max |lens - engine| = %.2g (logits up to %.2g); %s", maxDiff, maxAbs, strings.Join(p.Notes, "; "))
		})
	}
}

func TestTopBottom(t *testing.T) {
	row := []float32{3, -1, 7, 0, 7, -5, 2, 9, -1}
	top, bot := topBottom(row, 3)
	if fmt.Sprint(top) != "[7 2 4]" || fmt.Sprint(bot) != "[5 1 8]" {
		t.Fatalf("top %v bottom %v", top, bot)
	}
}

// TestLensTimeGPT2Small times the lens of every MLP neuron of a GPT-2-small
// shape (random weights): 12 layers × 3072 neurons × 50257 tokens. Set
// GLIA_LENS_BENCH=1 to run it (about a minute on two cores).
func TestLensTimeGPT2Small(t *testing.T) {
	if os.Getenv("GLIA_LENS_BENCH") == "" {
		t.Skip("set GLIA_LENS_BENCH=1")
	}
	cfg := map[string]any{"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_inner": 3072,
		"vocab_size": 50257, "n_positions": 1024, "activation_function": "gelu_new"}
	m, err := engine.RandomModel("gpt2-small-random", cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewLensPlan(m, func(id int32) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := 0
	if os.Getenv("GLIA_LENS_BENCH") == "layer" { // one layer only, for a quick estimate
		st, err := p.Layer(0, nil, 20, func(r *NeuronLens) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("GPT-2-small shape, one layer: lens of %d neurons in %s (matmul %s, selection %s)", n, st.Total.Round(time.Millisecond), st.Matmul.Round(time.Millisecond), st.Select.Round(time.Millisecond))
		return
	}
	st, err := p.All(20, func(r *NeuronLens) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GPT-2-small shape: lens of %d neurons (top/bottom 20 of 50257) in %s (matmul %s, selection %s)", n, time.Since(start).Round(time.Millisecond), st.Matmul.Round(time.Millisecond), st.Select.Round(time.Millisecond))
}
