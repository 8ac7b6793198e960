package arch

import "fmt"

// Lens names the weights on the direct path from neuron i of layer l's MLP
// to the logits (the "logit lens" of a neuron's output weights):
//
//	v      = W_out[:, i]                        the neuron's writing vector (d_model)
//	v     ← (o + g_post) ⊙ v                    MLPPostNorm, where the family has one
//	v     ← v - mean(v)                         if the final norm is Centred (LayerNorm)
//	logits = W_U · ((o + g) ⊙ v)                FinalNorm gain g with offset o
//
// Everything above is exact and linear. What it leaves out is per-token: the
// final norm divides the whole residual by its RMS (or standard deviation),
// and a post-norm (Gemma 2/3, OLMo 2) divides the MLP output by its own RMS.
// Both are positive scalars per token, so the ranking of the tokens a
// neuron promotes is exact; their magnitudes are in units of "one residual
// scale". A final logit soft-cap (Gemma 2) is monotone, so rankings through
// it are exact as well.
//
// It is data, not behaviour: families differ only in names, layouts and
// two constants, so each describes itself with one literal.
type Lens struct {
	// MLPOut names the MLP output projection, with %d for the layer.
	MLPOut string
	// MLPOutAxis is the axis of MLPOut's stored weight that is d_model: 1
	// for a Conv1D [d_mlp, d_model], 0 for a Linear [d_model, d_mlp].
	MLPOutAxis int
	// MLPPostNorm names, with %d for the layer, the gain of a norm applied to
	// the MLP output before it joins the residual (Gemma 2/3, OLMo 2); "" if
	// none.
	MLPPostNorm string
	// Unembedding names the unembedding, stored [vocab, d_model]: lm_head or
	// the tied embedding.
	Unembedding string
	// FinalNorm names the final norm's gain.
	FinalNorm string
	// GainOffset is added to every norm gain: 1 for Gemma's zero-centred
	// gains (stored w, applied as 1+w), else 0.
	GainOffset float64
	// Centred: the final norm subtracts the mean (LayerNorm, not RMSNorm).
	Centred bool
	// LogitSoftCap is the final logit soft-cap, 0 if none.
	LogitSoftCap float64

	// The rest names what direct logit attribution (package attribution)
	// reads to split each layer's output into heads, neurons and biases.
	// Names take %d for the layer; "" means the model has no such tensor.

	// AttnOut names the attention output projection; AttnOutAxis is its
	// d_model axis (1 for a Conv1D [heads·d_head, d_model], 0 for a Linear).
	AttnOut     string
	AttnOutAxis int
	// AttnOutBias and MLPOutBias are the output projections' biases.
	AttnOutBias, MLPOutBias string
	// AttnPostNorm names the gain of a norm on the attention output before
	// it joins the residual (Gemma 2/3, OLMo 2).
	AttnPostNorm string
	// FinalNormBias is the final LayerNorm's bias.
	FinalNormBias string
	// FinalNormEps is the final norm's epsilon (the logit lens of a
	// residual stream recomputes the norm).
	FinalNormEps float64
}

// Name formats a per-layer name of the Lens ("" stays "").
func (l Lens) Name(format string, layer int) string {
	if format == "" {
		return ""
	}
	return fmt.Sprintf(format, layer)
}

// Lensed is implemented by families whose MLP neurons can be read through
// the unembedding.
type Lensed interface {
	Lens() Lens
}

// MLPOutName is layer's MLP output projection.
func (l Lens) MLPOutName(layer int) string { return fmt.Sprintf(l.MLPOut, layer) }

// MLPPostNormName is layer's MLP post-norm gain, "" if the family has none.
func (l Lens) MLPPostNormName(layer int) string {
	if l.MLPPostNorm == "" {
		return ""
	}
	return fmt.Sprintf(l.MLPPostNorm, layer)
}
