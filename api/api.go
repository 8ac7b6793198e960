// Package api holds the JSON requests and responses of `glia serve`'s HTTP
// API (server/openapi.yaml describes the endpoints). The server and clients
// (the web pages, the Python client) share these shapes; the package imports
// no other part of glia, so that a Go client need not link the engine.
//
// Every JSON key is snake_case. Values that may be unknown are pointers and
// read null; a heat map's missing cells are null too.
package api

// Error is the body of every non-2xx answer.
type Error struct {
	Error  string `json:"error"`  // what went wrong, for people
	Status int    `json:"status"` // the HTTP status, repeated
}

// Health is GET /api/health.
type Health struct {
	OK    bool `json:"ok"`    // always true: the server answers
	Atlas bool `json:"atlas"` // an atlas is loaded (the atlas endpoints work)
	Model bool `json:"model"` // a model is loaded (run, intervene and patch work)
}

// Token is one prompt token.
type Token struct {
	ID   int32  `json:"id"`   // vocabulary id
	Text string `json:"text"` // display text (newline as ↵, unknown ids as #ID)
}

// NextToken is one entry of a next-token distribution.
type NextToken struct {
	ID    int     `json:"id"`    // vocabulary id
	Token string  `json:"token"` // display text
	Prob  float64 `json:"prob"`  // softmax probability
	Logit float32 `json:"logit"` // raw logit
}
