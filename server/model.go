package server

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

// modelInfo is what the server keeps beside its model.
type modelInfo struct {
	means *intervene.AtlasMeans
}

// newModelInfo traces the model's hook points now, so that a model that
// cannot be traced fails at start-up rather than on the first request.
func newModelInfo(m *engine.Model) (*modelInfo, error) {
	if _, err := m.HookPoints(); err != nil {
		return nil, fmt.Errorf("serve: tracing %s: %w", m.Name, err)
	}
	return &modelInfo{}, nil
}

// encode checks and tokenises a prompt (BOS added) within the limits.
func (s *Server) encode(m *engine.Model, what, text string, maxTokens int) ([]int32, error) {
	if text == "" {
		return nil, apiErr(http.StatusBadRequest, "%s is empty", what)
	}
	if !utf8.ValidString(text) {
		return nil, apiErr(http.StatusBadRequest, "%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(text); n > s.lim.MaxPromptChars {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%s has %d characters; the limit is %d", what, n, s.lim.MaxPromptChars)
	}
	ids, err := m.Encode(text, true)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	if len(ids) == 0 {
		return nil, apiErr(http.StatusBadRequest, "%s encodes to no tokens", what)
	}
	if len(ids) > maxTokens {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%s is %d tokens; the limit is %d", what, len(ids), maxTokens)
	}
	return ids, nil
}

// padded runs ids right-padded to a bucket; causal attention keeps the
// padding from reaching real positions, so they read as if unpadded.
func padded(m *engine.Model, ids []int32, hooks []string) (*engine.Result, error) {
	row, mask := m.PadToBucket(ids)
	return m.Run(engine.Request{IDs: [][]int32{row}, Mask: [][]bool{mask}, Hooks: hooks})
}

func topK(m *engine.Model, logits []float32, k int) []api.NextToken {
	var out []api.NextToken
	for _, r := range engine.TopTokens(logits, k) {
		text := m.TokenText(int32(r.ID))
		if isImageModel(m) {
			text = classLabel(m, r.ID) // logits over classes
		}
		out = append(out, api.NextToken{ID: r.ID, Token: text, Prob: r.Prob, Logit: r.Logit})
	}
	return out
}
