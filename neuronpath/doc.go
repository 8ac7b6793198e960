// Package neuronpath finds an influential neuron path (Wang et al.,
// "Discovering Influential Neuron Path in Vision Transformers", ICLR 2025;
// foundation-model-research/NeuronPath): one MLP neuron per layer, chosen
// layer by layer, that together drive the model's probability of a target
// token at one position (Find), or an image classifier's probability of a
// class (FindImage). Neurons are a layer's blocks.L.mlp.hook_post (the
// input of the MLP's output projection) at the target position, as the
// authors' neurons are the MLP's hidden units at the class token: on a ViT
// that is position 0, CLS, and only there (their search replaces and
// their evaluation edits x[:, 0] of the MLP's hidden layer; the patches
// run freely).
//
// Joint attribution score. The chosen neurons are scaled together from 0
// to their value along α = 0, 1/m, …, (m−1)/m (m = 20 left-Riemann steps,
// the authors' ig_total_step), every other neuron of those layers at the
// target position held at its clean value, and F is the target's softmax
// probability. With gᵢ(α) = ∂F/∂xᵢ at that point and xᵢ the neuron's value:
//
//	code form  (path/joint_attr.py, j_a_score):  (Σᵢ Σₖ gᵢ(αₖ)) · (Σᵢ xᵢ/m)
//	paper form (the paper's per-neuron sum):     Σᵢ (xᵢ/m) Σₖ gᵢ(αₖ)
//
// They agree for one neuron. The search uses the code form by default,
// because the authors' released paths and numbers come from it; the paper
// form comes from the same gradients, so every score carries both and
// Options.Form switches the search. Only the paper form is an integrated
// gradient: as m grows it tends to F(path on) − F(path off) (completeness,
// checked by the tests); the code form adds cross terms gᵢ·xⱼ.
//
// Layer-progressive search, as the authors' code runs it: at layer l, one
// forward of m rows scales the neurons chosen below l (others held at
// clean) and every neuron of layer l together from zero (layers above l run
// freely); candidate j scores (Σₖ gⱼ + Σ_path Σₖ gᵢ)·(xⱼ/m + Σ_path xᵢ/m),
// and the argmax joins the path. Scaling all of layer l at once, not each
// candidate with the path alone, is the authors' approximation: one
// backward pass scores every candidate.
// Options.Exact rescores a step's best candidates by their exact joint
// score instead (the path and the candidate scaled alone, m rows each).
//
// Baselines: per layer the neuron of largest activation (the authors'
// base_path), per layer the neuron of largest single-neuron integrated
// gradient (that layer's neurons at the target position scaled from zero,
// everything else free, m left-Riemann steps), and, when asked, one
// uniformly random neuron per layer.
//
// Measured influence of a path, each a plain forward:
//
//	deactivated: the path's neurons set to 0 at the target position, the
//	             rest of the model recomputed; the target's probability.
//	kept:        at the target position, every neuron of every MLP layer
//	             except the path's set to 0 (the path's neurons keep the
//	             value the forward computes); the target's probability.
//	enhanced:    the path's neurons doubled at the target position (the
//	             authors' other edit); the target's probability.
//
// Other positions are untouched. A more influential path lowers the
// probability more when deactivated and keeps more of it when kept.
//
// Every edit's values are graph inputs, not constants, so one compiled
// graph serves every prompt or image of the same shape and target.
package neuronpath
