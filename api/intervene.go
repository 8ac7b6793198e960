package api

// InterveneRequest is POST /api/intervene: the playground.
type InterveneRequest struct {
	Prompt string   `json:"prompt"`
	Specs  []string `json:"specs"`   // the intervention language (docs/interventions.md); @file values are refused
	MaxNew *int     `json:"max_new"` // greedy tokens to generate (default 16; 0 for none)
	Top    int      `json:"top"`     // next tokens listed (default 10, at most 50)
	Image  string   `json:"image"`   // image models: base64 PNG or JPEG instead of prompt; classes instead of tokens, nothing generated
}

// InterveneResponse is the playground's result.
type InterveneResponse struct {
	Tokens    []Token       `json:"tokens"`     // the prompt, BOS first
	Specs     []string      `json:"specs"`      // canonical forms
	Base      []NextToken   `json:"base"`       // next tokens without the interventions
	After     []NextToken   `json:"after"`      // next tokens with them
	Changes   []TokenChange `json:"changes"`    // tokens in either top list, by |delta|
	KL        float64       `json:"kl"`         // KL(base ‖ after) of the next-token distribution, nats
	BaseText  string        `json:"base_text"`  // greedy continuation without the interventions
	AfterText string        `json:"after_text"` // and with them ("" without a tokenizer)
}

// TokenChange compares one token's probability without and with the
// interventions.
type TokenChange struct {
	ID    int     `json:"id"`
	Token string  `json:"token"`
	Base  float64 `json:"base"`  // probability without
	After float64 `json:"after"` // probability with
	Delta float64 `json:"delta"` // after - base
}
