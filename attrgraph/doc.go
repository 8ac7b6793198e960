// Package attrgraph builds neuron attribution graphs: circuit-tracer's
// attribution graphs (decoderesearch/circuit-tracer) with the model's own
// MLP neurons (and, where asked or where there is no MLP, attention heads)
// as nodes instead of transcoder features, so no dictionary is needed.
//
// The model is linearised around one prompt: attention patterns and every
// norm's per-token scale are frozen at their cached values (and, for gated
// MLPs, the gate's activation), so the residual stream is a sum of linear
// terms and every edge is a direct effect that the frozen model reproduces
// exactly. Nodes:
//
//   - neuron (layer, pos, n): a candidate neuron, one of the top K at its
//     site by the size of what it writes, |a|·‖W_out[n]‖. As a source it
//     writes a·W_out[n]; as a target its value is its pre-activation
//     (GELU MLPs) or act(gate)·up with act(gate) frozen (gated MLPs).
//   - head (layer, pos, h) (heads mode: attention-only models, or asked):
//     head h's output o at pos; as a source it writes o, as a target its
//     value is ‖o‖ read along its own frozen direction o/‖o‖. In heads mode
//     the backward pass does not run through attention: a path through a
//     head goes through its node.
//   - error (layer, pos): what the site writes that is not a node — the
//     MLP neurons that are not candidates, and candidates not selected.
//   - embedding (pos): token (and learned position) embedding.
//   - logit: circuit-tracer's targets, the top logits up to 0.95 cumulative
//     probability (at most 10), each read through the demeaned unembedding.
//
// Constant terms (biases of the norms and projections) are not nodes: each
// row keeps its own constant ("bias"), so a node's incoming edges plus its
// bias equal its value (the completeness the tests check).
//
// Rows (the incoming edges of the logits and of the selected nodes) come
// from one batched backward pass per batch through the frozen model on the
// host; nodes are selected as circuit-tracer does, by their influence on the
// logits through the rows computed so far. Memory is bounded by
// MaxNodes × (candidates + sites + positions); pruning never sorts the
// edges (a selection finds the cumulative-score threshold).
package attrgraph
