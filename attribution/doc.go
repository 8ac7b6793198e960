// Package attribution says which components, neurons and inputs drive an
// output, each with a figure that checks its numbers add up:
//
//   - DLA (direct logit attribution): the final residual stream at a position
//     split into the embeddings, every head, every MLP neuron and the bias
//     terms, each through the final norm with its cached scale (centred for
//     LayerNorm, as TransformerLens's apply_ln_to_stack) and projected on a
//     token's unembedding or a logit difference. Completeness: components
//     plus bias terms minus the logit.
//   - Lens (logit lens of a prompt): every layer's residual stream through
//     the final norm and the unembedding; the last layer's is the model's
//     logits.
//   - Gradient × activation and integrated gradients (Captum's
//     IntegratedGradients) on any hook, for a logit, a logit difference, a
//     log-probability or the loss; the completeness delta
//     Σ attributions − (F(x) − F(baseline)) comes with every result.
//
// Everything reaches the model through engine.Model and the names of
// arch.Lens; see docs/attribution.md.
package attribution
