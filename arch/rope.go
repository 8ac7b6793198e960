package arch

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Rope is rotary position embedding in Hugging Face's rotate_half layout:
// dimension i of the rotated part pairs with i+Dim/2.
type Rope struct {
	InvFreq []float32 // [Dim/2] angular frequency per pair
	Dim     int       // rotated dimensions per head (partial rotary: < d_head)
	Scale   float64   // attention scaling applied to cos and sin (1 unless a scaling type says otherwise)
}

// RopeParams returns the rotary parameter object of a config: transformers 5
// writes rope_parameters (per layer type for Gemma-3); older configs have
// rope_theta, rope_scaling and partial_rotary_factor at the top level.
func RopeParams(c *Config, layerType string) *Config {
	if c.Has("rope_parameters") {
		// A value that is not an object is an error recorded in c; the
		// parameters are then empty rather than nil, for NewRope.
		p := c.Sub("rope_parameters")
		if p != nil && layerType != "" && p.Has(layerType) {
			sub := p.Sub(layerType)
			c.Merge(p)
			p = sub
		}
		if p == nil {
			p = NewConfig(c.Source+":rope", nil)
		}
		return p
	}
	// Values are copied as written, for messages about them.
	m := map[string]any{"rope_theta": 10000, "rope_type": "default"}
	if c.Has("rope_theta") {
		m["rope_theta"] = c.Raw("rope_theta")
	}
	if c.Has("partial_rotary_factor") {
		m["partial_rotary_factor"] = c.Raw("partial_rotary_factor")
	}
	if s := c.Sub("rope_scaling"); s != nil {
		for k, v := range s.m {
			m[k] = v
		}
		if t, ok := m["type"]; ok && m["rope_type"] == "default" {
			m["rope_type"] = t
		}
	}
	return NewConfig(c.Source+":rope", m)
}

// NewRope computes inverse frequencies the way transformers does, in float32,
// for the rope types glia supports: default, linear and llama3.
//
// Every parameter is checked before the table is allocated (New checks the
// config keys it knows; this also covers values a family derived or a GGUF
// or llama2.c header supplied): a zero base or factor would make the
// frequencies infinite and every activation NaN. A failure is reported
// through c.Err and returns a Rope with no frequencies.
func NewRope(c *Config, p *Config, headDim int) Rope {
	theta := p.Float("rope_theta", 10000)
	frac := p.Float("partial_rotary_factor", 1)
	defer c.Merge(p)
	switch {
	case !positive(theta):
		p.fail("rope_theta %v must be a positive finite number", p.Raw("rope_theta"))
	case !(frac > 0 && frac <= 1):
		p.fail("partial_rotary_factor %v must be in (0, 1]", p.Raw("partial_rotary_factor"))
	case headDim < 1 || headDim > c.maxDim():
		p.fail("head dimension %d is out of range [1, %d]", headDim, c.maxDim())
	}
	if len(p.errs) > 0 {
		return Rope{}
	}
	base := float32(theta)
	dim := int(float64(headDim) * frac)
	inv := make([]float32, dim/2)
	for i := range inv {
		exp := float32(2*i) / float32(dim)
		inv[i] = 1 / float32(math.Pow(float64(base), float64(exp)))
	}
	r := Rope{InvFreq: inv, Dim: dim, Scale: 1}
	switch t := p.String("rope_type", p.String("type", "default")); t {
	case "default":
	case "linear":
		f := p.Float("factor", 1)
		if !positive(f) {
			p.fail("factor %v must be a positive finite number", p.Raw("factor"))
			return Rope{}
		}
		for i := range inv {
			inv[i] /= float32(f)
		}
	case "llama3":
		if !llama3Scaling(p, inv) {
			return Rope{}
		}
	default:
		c.fail("unsupported rope type %q (supported: default, linear, llama3)", t)
	}
	return r
}

func positive(x float64) bool { return x > 0 && !math.IsInf(x, 0) }

// llama3Scaling applies Llama 3.1's frequency-dependent interpolation: long
// wavelengths are divided by factor, short ones kept, the band between blended.
// It reports false, with the reason in p's errors, for parameters that would
// make frequencies infinite or NaN.
func llama3Scaling(p *Config, inv []float32) bool {
	factor := p.Float("factor", 8)
	low := p.Float("low_freq_factor", 1)
	high := p.Float("high_freq_factor", 4)
	old := p.Float("original_max_position_embeddings", 8192)
	for _, k := range []struct {
		key string
		v   float64
	}{{"factor", factor}, {"low_freq_factor", low}, {"high_freq_factor", high}, {"original_max_position_embeddings", old}} {
		if !positive(k.v) {
			p.fail("%s %v must be a positive finite number", k.key, p.Raw(k.key))
			return false
		}
	}
	if high == low { // the blend divides by high - low
		p.fail("high_freq_factor %v must differ from low_freq_factor %v", p.Raw("high_freq_factor"), p.Raw("low_freq_factor"))
		return false
	}
	lowWavelen, highWavelen := old/low, old/high
	for i, f := range inv {
		wavelen := 2 * math.Pi / float64(f)
		switch {
		case wavelen < highWavelen:
		case wavelen > lowWavelen:
			inv[i] = float32(float64(f) / factor)
		default:
			smooth := (old/wavelen - low) / (high - low)
			inv[i] = float32((1-smooth)*float64(f)/factor + smooth*float64(f))
		}
	}
	return true
}

// CosSin returns cos and sin of the rotation angles for positions pos
// [batch, pos], each [batch, pos, 1, Dim] ready to broadcast over heads,
// in float32 (Apply converts them to the compute dtype, as transformers does).
func (r Rope) CosSin(pos *Node) (cos, sin *Node) {
	g := pos.Graph()
	b, t := pos.Shape().Dimensions[0], pos.Shape().Dimensions[1]
	inv := Concatenate([]*Node{Const(g, r.InvFreq), Const(g, r.InvFreq)}, 0) // [Dim]
	angles := Mul(Reshape(ConvertDType(pos, dtypes.Float32), b, t, 1, 1), Reshape(inv, 1, 1, 1, r.Dim))
	cos, sin = Cos(angles), Sin(angles)
	if r.Scale != 1 {
		cos, sin = MulScalar(cos, r.Scale), MulScalar(sin, r.Scale)
	}
	return cos, sin
}

// Apply rotates the first Dim dimensions of x [batch, pos, heads, d_head].
func (r Rope) Apply(x, cos, sin *Node) *Node {
	d := x.Shape().Dimensions[3]
	rot, pass := x, (*Node)(nil)
	if r.Dim < d {
		rot = SliceAxis(x, 3, AxisRange(0, r.Dim))
		pass = SliceAxis(x, 3, AxisRange(r.Dim, d))
	}
	half := r.Dim / 2
	x1 := SliceAxis(rot, 3, AxisRange(0, half))
	x2 := SliceAxis(rot, 3, AxisRange(half, r.Dim))
	rotated := Concatenate([]*Node{Neg(x2), x1}, 3)
	cos, sin = convertTo(cos, x.DType()), convertTo(sin, x.DType())
	out := Add(Mul(rot, cos), Mul(rotated, sin))
	if pass != nil {
		out = Concatenate([]*Node{out, pass}, 3)
	}
	return out
}
