package api

import "encoding/json"

// ConceptCorpus is one concept's texts: each text is one window of the
// model's input (BOS added, cut at the server's prompt-token limit).
type ConceptCorpus struct {
	Name  string   `json:"name"`
	Texts []string `json:"texts"`
}

// ConceptsRequest is POST /api/concepts: glia concepts over the request's
// corpora, each concept's units found by contrast with the others and
// verified by deactivating them on every corpus.
type ConceptsRequest struct {
	Corpora []ConceptCorpus `json:"corpora"`
	Methods string          `json:"methods,omitempty"` // comma-separated: lape, lna, auroc, mean-diff, freq-diff, culnig (default mean-diff)
	Hooks   string          `json:"hooks,omitempty"`   // glob of the units' hooks (default blocks.*.mlp.hook_post)
	Rate    float64         `json:"rate,omitempty"`    // AUROC and differences: fraction of units per concept (default 0.01)
	TopRate float64         `json:"top_rate,omitempty"`
	Verify  string          `json:"verify,omitempty"` // zero (default), aura or none
}

// ConceptsResponse carries glia concepts' JSON report (docs/concepts.md,
// the same as `glia concepts --json -`): per method the units with their
// scores and links, per-layer shares and the concepts × corpora loss matrix.
type ConceptsResponse struct {
	Report  json.RawMessage `json:"report"`
	Seconds float64         `json:"seconds"`
}
