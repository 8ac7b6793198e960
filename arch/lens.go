package arch

// Lens is implemented by families whose MLP neurons can be read through the
// unembedding (the "logit lens" of a neuron's output weights). It names the
// weights on the direct path from neuron i of layer l to the logits:
//
//	v      = W_out[:, i]                        the neuron's writing vector (d_model)
//	v     ← (o + g_post) ⊙ v                    MLPPostNorm, where the family has one
//	v     ← v - mean(v)                         if FinalNorm is centred (LayerNorm)
//	logits = W_U · ((o + g) ⊙ v)                FinalNorm gain g with offset o
//
// Everything above is exact and linear. What it leaves out is per-token: the
// final norm divides the whole residual by its RMS (or standard deviation),
// and a post-norm (Gemma 2/3, OLMo 2) divides the MLP output by its own RMS.
// Both are positive scalars per token, so the ranking of the tokens a
// neuron promotes is exact; their magnitudes are in units of "one residual
// scale". A final logit soft-cap (Gemma 2) is monotone, so rankings through
// it are exact as well.
type Lens interface {
	// MLPOut names layer l's MLP output projection and the axis of its
	// stored weight that is d_model: 1 for a Conv1D [d_mlp, d_model], 0 for
	// a Linear [d_model, d_mlp].
	MLPOut(layer int) (name string, dModelAxis int)
	// MLPPostNorm names the gain of a norm applied to the MLP output before
	// it joins the residual (Gemma 2/3, OLMo 2), with its offset; "" if none.
	MLPPostNorm(layer int) (gain string, offset float64)
	// Unembedding names the unembedding ([vocab, d_model]: lm_head or the
	// tied embedding) and which axis is d_model.
	Unembedding() (name string, dModelAxis int)
	// FinalNorm names the final norm's gain, its offset (1 for Gemma's
	// zero-centred gains, else 0), and whether it centres (LayerNorm).
	FinalNorm() (gain string, offset float64, centred bool)
	// LogitSoftCap is the final logit soft-cap, 0 if none.
	LogitSoftCap() float64
}
