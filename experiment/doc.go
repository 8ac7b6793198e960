// Package experiment runs experiments on a model with the intervention
// language of package intervene:
//
//   - activation patching (Sweep): clean activations patched into corrupt
//     runs, one cell (layer × position, head, unit or layer) per row;
//   - path patching (PathPatch): from sender heads to receiver heads'
//     query, key or value, as in Wang et al. (IOI);
//   - ablation over corpora (LossOnCorpus): next-token loss with and
//     without interventions.
//
// What a sweep patches (Kind), its cells (Per) and its metric (Metric) are
// typed values with one parser each, shared by the CLI and the server.
// Results become a Grid, the one heat-map type both send or draw (with
// package plot).
package experiment
