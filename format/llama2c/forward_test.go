package llama2c

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/glia-dev/glia/format"
)

// hfLogits runs a plain float32 Hugging Face Llama forward pass (rotate_half
// rotary embeddings) over tokens and returns the logits at every position.
// It exists to prove that the q/k un-permutation produces HF layout.
func hfLogits(t *testing.T, src format.TensorSource, cfg map[string]any, tokens []int) [][]float32 {
	t.Helper()
	get := func(name string) []float32 {
		d, err := src.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dim := cfg["hidden_size"].(int)
	hid := cfg["intermediate_size"].(int)
	L := cfg["num_hidden_layers"].(int)
	nh := cfg["num_attention_heads"].(int)
	nkv := cfg["num_key_value_heads"].(int)
	theta := cfg["rope_theta"].(float64)
	eps := cfg["rms_norm_eps"].(float64)
	hd := dim / nh
	kvd := nkv * hd
	matvec := func(w, x []float32, rows, cols int) []float32 {
		out := make([]float32, rows)
		for r := range rows {
			var s float32
			for c := range cols {
				s += w[r*cols+c] * x[c]
			}
			out[r] = s
		}
		return out
	}
	rms := func(x, w []float32) []float32 {
		var ss float32
		for _, v := range x {
			ss += v * v
		}
		inv := float32(1 / math.Sqrt(float64(ss/float32(len(x)))+eps))
		out := make([]float32, len(x))
		for i := range x {
			out[i] = x[i] * inv * w[i]
		}
		return out
	}
	rope := func(v []float32, heads, pos int) {
		for h := range heads {
			b := v[h*hd : (h+1)*hd]
			for i := range hd / 2 {
				f := float64(pos) * math.Pow(theta, -float64(2*i)/float64(hd))
				c, s := float32(math.Cos(f)), float32(math.Sin(f))
				x1, x2 := b[i], b[i+hd/2]
				b[i] = x1*c - x2*s
				b[i+hd/2] = x2*c + x1*s
			}
		}
	}
	emb := get("model.embed_tokens.weight")
	head := emb
	if _, ok := src.Shape("lm_head.weight"); ok {
		head = get("lm_head.weight")
	}
	vocab := len(emb) / dim
	type layer struct{ in, post, q, k, v, o, gate, up, down []float32 }
	layers := make([]layer, L)
	for l := range L {
		p := fmt.Sprintf("model.layers.%d.", l)
		layers[l] = layer{get(p + "input_layernorm.weight"), get(p + "post_attention_layernorm.weight"),
			get(p + "self_attn.q_proj.weight"), get(p + "self_attn.k_proj.weight"), get(p + "self_attn.v_proj.weight"),
			get(p + "self_attn.o_proj.weight"), get(p + "mlp.gate_proj.weight"), get(p + "mlp.up_proj.weight"), get(p + "mlp.down_proj.weight")}
	}
	norm := get("model.norm.weight")
	kcache := make([][][]float32, L)
	vcache := make([][][]float32, L)
	var all [][]float32
	for pos, tok := range tokens {
		x := append([]float32(nil), emb[tok*dim:(tok+1)*dim]...)
		for l, ly := range layers {
			h := rms(x, ly.in)
			q := matvec(ly.q, h, dim, dim)
			k := matvec(ly.k, h, kvd, dim)
			v := matvec(ly.v, h, kvd, dim)
			rope(q, nh, pos)
			rope(k, nkv, pos)
			kcache[l] = append(kcache[l], k)
			vcache[l] = append(vcache[l], v)
			att := make([]float32, dim)
			for hh := range nh {
				kh := hh / (nh / nkv)
				scores := make([]float64, pos+1)
				mx := math.Inf(-1)
				for tp := 0; tp <= pos; tp++ {
					var s float32
					for i := range hd {
						s += q[hh*hd+i] * kcache[l][tp][kh*hd+i]
					}
					scores[tp] = float64(s) / math.Sqrt(float64(hd))
					mx = math.Max(mx, scores[tp])
				}
				var sum float64
				for tp := range scores {
					scores[tp] = math.Exp(scores[tp] - mx)
					sum += scores[tp]
				}
				for tp := range scores {
					w := float32(scores[tp] / sum)
					for i := range hd {
						att[hh*hd+i] += w * vcache[l][tp][kh*hd+i]
					}
				}
			}
			o := matvec(ly.o, att, dim, dim)
			for i := range x {
				x[i] += o[i]
			}
			h = rms(x, ly.post)
			g := matvec(ly.gate, h, hid, dim)
			u := matvec(ly.up, h, hid, dim)
			for i := range g {
				g[i] = g[i] / (1 + float32(math.Exp(float64(-g[i])))) * u[i]
			}
			d := matvec(ly.down, g, dim, hid)
			for i := range x {
				x[i] += d[i]
			}
		}
		all = append(all, matvec(head, rms(x, norm), vocab, dim))
	}
	return all
}

type logitsRef struct {
	TokenIDs []int       `json:"token_ids"`
	Logits   [][]float64 `json:"logits"`
}

func loadLogitsRef(t *testing.T) logitsRef {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/stories260K/expected/logits_first8.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref logitsRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestHFLayoutLogits: a rotate_half forward pass over the un-permuted weights
// reproduces the PyTorch reference logits, so the q/k rows are in HF layout.
func TestHFLayoutLogits(t *testing.T) {
	ref := loadLogitsRef(t)
	c, err := Open(storiesBin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := hfLogits(t, c, c.Config(), ref.TokenIDs)
	maxDiff := 0.0
	for i := range ref.Logits {
		for j, w := range ref.Logits[i] {
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i][j])-w))
		}
	}
	t.Logf("max |logit - reference| over %dx%d = %.3g", len(ref.Logits), len(ref.Logits[0]), maxDiff)
	if maxDiff > 1e-4 {
		t.Fatalf("max difference %g > 1e-4", maxDiff)
	}
}
