package engine_test

import (
	"math"
	"testing"

	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// TestCheckpoint: a checkpointed request returns the logits, activations
// and gradients of an ordinary one, for hooks in every segment (embedding,
// layers, top), through an intervention fed by graph inputs, over a batch,
// with attention chunked (2 queries) and not.
func TestCheckpoint(t *testing.T) {
	hooks := []string{"hook_embed", "blocks.0.mlp.hook_post", "blocks.1.attn.hook_z", "blocks.1.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "ln_final.hook_normalized"}
	for _, fam := range []string{"gpt2", "llama", "gemma2", "gpt_neox", "olmo2"} {
		for _, chunk := range []int{0, 2} {
			m, err := engine.Load("../testdata/hf-tiny/" + fam)
			if err != nil {
				t.Fatal(err)
			}
			restore := engine.SetAttnChunk(chunk)
			ids := [][]int32{{1, 7, 3, 9, 4, 2}, {5, 4, 3, 2, 1, 8}}
			req := engine.Request{IDs: ids, Hooks: hooks,
				Grad: &engine.GradTarget{Key: "lp", Fn: func(l *Node) *Node { return ReduceAllSum(LogSoftmax(SliceAxis(l, 1, AxisElem(4)), -1)) }},
				Interventions: []engine.Intervention{{Hook: "hook_embed", Key: "scale", Inputs: []engine.Array{{Shape: []int{2}, Data: []float32{0.5, 1.5}}},
					FnIn: func(x *Node, in []*Node) *Node {
						return Mul(x, BroadcastToDims(Reshape(in[0], 2, 1, 1), x.Shape().Dimensions...))
					}}},
			}
			want, err := m.Run(req)
			if err != nil {
				t.Fatal(err)
			}
			req.Checkpoint = true
			got, err := m.Run(req)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			close := func(what string, a, b []float32) {
				var scale, worst float64
				for i := range a {
					scale = max(scale, math.Abs(float64(a[i])))
					worst = max(worst, math.Abs(float64(a[i]-b[i])))
				}
				if len(a) != len(b) || worst > 1e-5*max(scale, 1) {
					t.Errorf("%s chunk %d %s: %d values against %d, worst difference %.3g (scale %.3g)", fam, chunk, what, len(b), len(a), worst, scale)
				}
			}
			close("logits", want.Logits.Data, got.Logits.Data)
			for _, h := range hooks {
				close(h, want.Acts[h].Data, got.Acts[h].Data)
				close("∂/∂"+h, want.Grads[h].Data, got.Grads[h].Data)
			}
		}
	}
}
