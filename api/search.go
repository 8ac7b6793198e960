package api

// SearchResponse is GET /api/search.
type SearchResponse struct {
	Query  map[string]string `json:"query"`            // the query parameters given
	Total  int               `json:"total"`            // hits before limit and offset
	Hits   []SearchHit       `json:"hits"`             // the page asked for
	Tokens []string          `json:"tokens,omitempty"` // the token strings a token search matched
	Note   string            `json:"note,omitempty"`   // why a search found nothing it could
}

// SearchHit is one unit in search results.
type SearchHit struct {
	ID      string   `json:"id"` // HOOK:UNIT
	Hook    string   `json:"hook"`
	Unit    int      `json:"unit"`
	Max     *float64 `json:"max"` // the unit's atlas maximum; null when unknown
	Mean    float64  `json:"mean"`
	Density float64  `json:"density"`           // fraction of tokens > 0
	TopTok  string   `json:"top_token"`         // center token of the top example
	Matches int      `json:"matches,omitempty"` // top examples on the searched token
	Label   string   `json:"label,omitempty"`   // glia explain's label, once explained
}
