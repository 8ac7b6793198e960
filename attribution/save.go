package attribution

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/glia-dev/glia/format/safetensors"
)

// Outputs as safetensors: every result becomes plain F32 tensors, with what
// a tensor cannot hold (names, the target, the check figure) in the header's
// metadata as strings, so that numpy or torch read them without glia.

// Saved is a result's tensors and metadata, ready for safetensors.Write.
type Saved struct {
	Tensors  []safetensors.Tensor
	Metadata map[string]string
}

// Save writes s to path.
func (s Saved) Save(path string) error { return safetensors.Write(path, s.Tensors, s.Metadata) }

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // only plain strings and numbers are passed
		panic(err)
	}
	return string(b)
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Saved is the DLA as tensors: dla.components [n_components] in model
// order, their names in the metadata key dla.components (a JSON list), and
// the per-layer attention and MLP outputs dla.attn and dla.mlp [n_layers].
func (r *DLAResult) Saved(describe string) Saved {
	names := make([]string, len(r.Components))
	scores := make([]float32, len(r.Components))
	for i, c := range r.Components {
		names[i], scores[i] = c.Name, float32(c.Score)
	}
	attn := make([]float32, len(r.Layers))
	mlp := make([]float32, len(r.Layers))
	for l, ld := range r.Layers {
		attn[l], mlp[l] = float32(ld.Attn), float32(ld.MLP)
	}
	return Saved{
		Tensors: []safetensors.Tensor{
			{Name: "dla.components", Shape: []int{len(scores)}, Data: scores},
			{Name: "dla.attn", Shape: []int{len(attn)}, Data: attn},
			{Name: "dla.mlp", Shape: []int{len(mlp)}, Data: mlp},
		},
		Metadata: map[string]string{
			"method":           "dla",
			"target":           describe,
			"dla.components":   jsonString(names),
			"logit":            ftoa(r.Logit),
			"pre_cap":          ftoa(r.PreCap),
			"sum":              ftoa(r.Sum),
			"completeness":     ftoa(r.Completeness),
			"dla.frozen_norms": jsonString(r.Frozen),
		},
	}
}

// Saved is the attribution as tensors: METHOD.attr with the hook's shape
// (batch 1) and METHOD.by_pos [n_pos], METHOD being ig or gradxact.
func (r *AttrResult) Saved(describe string) Saved {
	md := map[string]string{
		"method": r.Method,
		"target": describe,
		"hook":   r.Hook,
		"f":      ftoa(r.F),
		"sum":    ftoa(r.Sum),
	}
	if r.Method == "ig" {
		md["f_baseline"], md["delta"], md["relative_delta"] = ftoa(r.FBaseline), ftoa(r.Delta), ftoa(r.Relative)
		md["steps"], md["rule"] = strconv.Itoa(r.Steps), string(r.Rule)
	}
	byPos := r.ByPos()
	return Saved{
		Tensors: []safetensors.Tensor{
			{Name: r.Method + ".attr", Shape: append([]int(nil), r.Shape...), Data: r.Attr},
			{Name: r.Method + ".by_pos", Shape: []int{len(byPos)}, Data: f32s(byPos)},
		},
		Metadata: md,
	}
}

// Saved is AtP as tensors over its nodes, in rank order:
// atp.estimate, atp.real (the patched effect; NaN where not re-checked),
// atp.hook (an index into the metadata's atp.hooks, a JSON list) and
// atp.unit (a position where the metadata's per is pos), all [n_nodes];
// with AtP*'s options also atp.plain (NaN where the QK fix did not apply)
// and atp.graddrop. Indices are exact in float32 below 2^24.
func (r *AtPResult) Saved(describe string) Saved {
	n := len(r.Nodes)
	est, real, hook, unit := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	plain, drop := make([]float32, n), make([]float32, n)
	opt := func(v *float64) float32 {
		if v == nil {
			return float32(math.NaN())
		}
		return float32(*v)
	}
	var hooks []string
	at := map[string]int{}
	for i, nd := range r.Nodes {
		h, ok := at[nd.Hook]
		if !ok {
			h = len(hooks)
			at[nd.Hook] = h
			hooks = append(hooks, nd.Hook)
		}
		est[i], hook[i], unit[i] = float32(nd.Estimate), float32(h), float32(nd.Index)
		real[i], plain[i], drop[i] = opt(nd.Patched), opt(nd.Plain), opt(nd.GradDrop)
	}
	vec := func(name string, d []float32) safetensors.Tensor {
		return safetensors.Tensor{Name: name, Shape: []int{n}, Data: d}
	}
	ts := []safetensors.Tensor{vec("atp.estimate", est), vec("atp.real", real), vec("atp.hook", hook), vec("atp.unit", unit)}
	if r.QKFix {
		ts = append(ts, vec("atp.plain", plain))
	}
	if r.GradDrop {
		ts = append(ts, vec("atp.graddrop", drop))
	}
	per := "unit"
	if n > 0 && r.Nodes[0].Pos {
		per = "pos"
	}
	return Saved{
		Tensors: ts,
		Metadata: map[string]string{
			"per":       per,
			"method":    "atp",
			"target":    describe,
			"atp.hooks": jsonString(hooks),
			"clean":     ftoa(r.Clean),
			"corrupt":   ftoa(r.Corrupt),
			"checked":   strconv.Itoa(r.Checked),
			"spearman":  ftoa(r.Spearman),
		},
	}
}
