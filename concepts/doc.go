// Package concepts finds the units (MLP neurons by default) behind a concept
// — a language, a topic, a kind of text — by contrasting their activations
// over one corpus per concept, and checks them by deactivating them.
//
// One streaming pass per corpus (Collect) keeps, per unit, what every
// method needs: the count of positive activations, the first two moments,
// a bounded sample of per-window responses (for AUROC and the bootstrap),
// and optionally CULNIG's activation × gradient scores. The methods then
// work on those statistics alone:
//
//   - LAPE (Tang et al. 2024, RUCAIBox/Language-Specific-Neurons);
//   - language-specific / related / general neurons (Zhang et al. 2025,
//     NJUNLP/Language-Neurons-Alignment);
//   - AUROC of each corpus against the rest, with AurA's dampening factor
//     (Suau et al. 2024, apple/ml-aura);
//   - differences of activation frequency and mean, with bootstrap
//     confidence intervals;
//   - gradient scores (CULNIG, Namazifard et al., ynklab/CULNIG).
//
// Verify ablates each concept's units and reports the next-token loss on
// every corpus before and after: the concepts × corpora matrix.
package concepts
