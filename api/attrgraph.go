package api

// AttrGraphRequest is POST /api/attrgraph: a neuron attribution graph of a
// prompt's next-token logits, as glia attribute graph (docs/attrgraph.md).
type AttrGraphRequest struct {
	Prompt        string  `json:"prompt"`         // BOS added
	PerSite       int     `json:"per_site"`       // candidate neurons per (layer, position); 0: 16
	MaxNodes      int     `json:"max_nodes"`      // neurons and heads whose incoming edges are computed; 0: 200
	Heads         bool    `json:"heads"`          // attention heads as nodes (always for attention-only models)
	NodeThreshold float64 `json:"node_threshold"` // 0: 0.8
	EdgeThreshold float64 `json:"edge_threshold"` // 0: 0.98
}

// AttrGraph is a pruned attribution graph: nodes by layer and position,
// edges with their direct effects.
type AttrGraph struct {
	Model  string           `json:"model"`
	Tokens []Token          `json:"tokens"`
	Logits []AttrGraphLogit `json:"logits"` // the targets
	Layers int              `json:"n_layers"`
	Nodes  []AttrGraphNode  `json:"nodes"` // kept nodes
	Edges  []AttrGraphEdge  `json:"edges"` // kept edges between kept nodes
	Stats  AttrGraphStats   `json:"stats"`
	Frozen []string         `json:"frozen"` // what the linearisation holds at its cached value
	Notes  []string         `json:"notes,omitempty"`
}

// AttrGraphLogit is one target logit.
type AttrGraphLogit struct {
	Token Token   `json:"token"`
	Prob  float64 `json:"prob"` // its softmax probability: its weight in the influence
}

// AttrGraphNode is one node. Layer is -1 for embeddings and n_layers for
// logits; Index is the neuron, head, or token id (logits, embeddings), -1
// for errors.
type AttrGraphNode struct {
	ID         string  `json:"id"` // L3N17@5, L1H2@5, E3@5, emb@5, logit:" the"
	Kind       string  `json:"kind"`
	Layer      int     `json:"layer"`
	Pos        int     `json:"pos"`
	Index      int     `json:"index"`
	Activation float64 `json:"activation"` // neuron: hook_post; head: ‖output‖; logit: probability
	// Value is what its incoming edges add up to with Bias: the
	// pre-activation (GELU), act(gate)·up (gated), ‖output‖ (head), the
	// demeaned logit; 0 for nodes without incoming edges.
	Value float64 `json:"value"`
	Bias  float64 `json:"bias"`
	// Influence on the logits, Σ over paths (circuit-tracer's
	// w((I−A)⁻¹ − I) with |A| row-normalised); Cumulative is the share of
	// all influence held by nodes at least as influential.
	Influence  float64 `json:"influence"`
	Cumulative float64 `json:"cumulative"`
	// Keys (heads) is the QK side the frozen graph leaves out.
	Keys *AttrGraphKeys `json:"keys,omitempty"`
}

// AttrGraphKeys splits a head's largest attention score at its position,
// scale·q·k on key position KeyPos, over what that position's residual
// stream is made of (the query, the norm scale and the rotary angle held
// at their cached values): Σ Top + Rest + Bias = Score.
type AttrGraphKeys struct {
	KeyPos int            `json:"key_pos"`
	Score  float64        `json:"score"`
	Bias   float64        `json:"bias"`
	Rest   float64        `json:"rest"` // the sources not listed
	Top    []AttrGraphKey `json:"top"`
}

// AttrGraphKey is one source's share of a head's score: its ID (L0H3@18,
// emb@18, L0N5@18, E0@18), whether or not it is a node of the graph.
type AttrGraphKey struct {
	Source string  `json:"source"`
	Weight float64 `json:"weight"`
}

// AttrGraphEdge is a direct effect of Source on Target (indices into
// Nodes); Score is its pruning score.
type AttrGraphEdge struct {
	Source int     `json:"source"`
	Target int     `json:"target"`
	Weight float64 `json:"weight"`
	Score  float64 `json:"score"`
}

// AttrGraphStats says how big the graph was before pruning and how well it
// accounts for the model.
type AttrGraphStats struct {
	Candidates int `json:"candidates"` // candidate neurons and heads
	Selected   int `json:"selected"`   // those with computed rows
	Nodes      int `json:"nodes"`      // before pruning
	Edges      int `json:"edges"`      // non-zero, before pruning
	KeptNodes  int `json:"kept_nodes"`
	KeptEdges  int `json:"kept_edges"`
	// MaxCompleteness is max over rows |Σ incoming + bias − value|.
	MaxCompleteness float64 `json:"max_completeness_error"`
	// Replacement and Completeness are circuit-tracer's graph scores.
	Replacement  float64 `json:"replacement_score"`
	Completeness float64 `json:"completeness_score"`
	Seconds      float64 `json:"seconds"`
}
