package api

import "encoding/json"

// PatchRequest is POST /api/patch: an activation-patching sweep of one
// clean/corrupt pair, as glia patch.
type PatchRequest struct {
	Clean   string `json:"clean"`
	Corrupt string `json:"corrupt"`
	Metric  string `json:"metric"` // logit-diff:TOKA,TOKB (tokens as text, or #ID)
	Hook    string `json:"hook"`   // resid_pre (default), resid_mid, resid_post, attn_out, mlp_out, z, q, k, v, mlp_pre, mlp_post
	Per     string `json:"per"`    // pos (default), head, neuron, layer
}

// PatchResponse is a sweep's result and its heat map.
type PatchResponse struct {
	Grid    Grid    `json:"grid"`
	Clean   float64 `json:"clean_metric"`   // the metric on the clean prompt
	Corrupt float64 `json:"corrupt_metric"` // and on the corrupt one
	Rows    int     `json:"patched_rows"`   // forward passes run
	Seconds float64 `json:"seconds"`        // time the sweep took
}

// PatchFileResponse is GET /api/patch/file: the result given with --patch.
type PatchFileResponse struct {
	Name   string          `json:"name"`   // its file name
	Grid   *Grid           `json:"grid"`   // null when the file is not an activation-patching sweep
	Result json.RawMessage `json:"result"` // the file as given
}

// Grid is a heat map: a value per row and column.
type Grid struct {
	Title  string       `json:"title"`
	Rows   []string     `json:"rows"`   // row labels (layers)
	Cols   []string     `json:"cols"`   // column labels (positions, heads…)
	Values [][]*float64 `json:"values"` // [row][col]; null where a cell does not exist
}
