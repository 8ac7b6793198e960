package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// LLM is a client of an OpenAI-compatible chat-completions endpoint.
type LLM struct {
	URL      string        // base URL (…/v1) or the full …/chat/completions URL
	Key      string        // bearer token; "" sends none
	Model    string        // model name sent with each request
	Timeout  time.Duration // per attempt (60s)
	Retries  int           // extra attempts after 429, 5xx, timeouts and network errors (0: 4; negative: none)
	Backoff  time.Duration // first retry delay, doubled each time, with jitter (1s)
	MaxSpans int           // held-out examples simulated per unit (12)
	Client   *http.Client
	sleep    func(context.Context, time.Duration) error
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func (l *LLM) endpoint() string {
	u := strings.TrimRight(l.URL, "/")
	if strings.HasSuffix(u, "/chat/completions") {
		return u
	}
	if !strings.HasSuffix(u, "/v1") {
		u += "/v1"
	}
	return u + "/chat/completions"
}

// HTTPError is a non-2xx answer.
type HTTPError struct {
	Status int
	Body   string // an excerpt
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

func retryable(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status == http.StatusTooManyRequests || he.Status >= 500
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Chat sends messages and returns the first choice's content, retrying
// with exponential backoff and jitter. Errors name the endpoint, the last
// status and an excerpt of the body.
func (l *LLM) Chat(ctx context.Context, msgs []Message) (string, error) {
	timeout, retries, backoff := l.Timeout, l.Retries, l.Backoff
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	switch {
	case retries < 0:
		retries = 0
	case retries == 0:
		retries = 4
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	sleep := l.sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	body, err := json.Marshal(map[string]any{"model": l.Model, "messages": msgs, "temperature": 0})
	if err != nil {
		return "", err
	}
	var last error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			d := backoff << (attempt - 1)
			d += time.Duration(rand.Int64N(int64(d)/2 + 1)) // jitter
			var he *HTTPError
			if errors.As(last, &he) && he.Status == http.StatusTooManyRequests {
				if ra := retryAfter(last); ra > d {
					d = min(ra, 60*time.Second)
				}
			}
			if err := sleep(ctx, d); err != nil {
				return "", fmt.Errorf("llm: %s: %w (after %v)", l.endpoint(), err, last)
			}
		}
		var out string
		out, last = l.once(ctx, body, timeout)
		if last == nil {
			return out, nil
		}
		if ctx.Err() != nil || !retryable(last) {
			break
		}
	}
	return "", fmt.Errorf("llm: %s: %w", l.endpoint(), last)
}

type retryAfterError struct {
	*HTTPError
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.HTTPError }

func retryAfter(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after
	}
	return 0
}

func (l *LLM) once(ctx context.Context, body []byte, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.endpoint(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if l.Key != "" {
		req.Header.Set("Authorization", "Bearer "+l.Key)
	}
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return "", fmt.Errorf("no answer within %s: %w", timeout, context.DeadlineExceeded)
		}
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return "", fmt.Errorf("no full answer within %s: %w", timeout, context.DeadlineExceeded)
		}
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		he := &HTTPError{Status: resp.StatusCode, Body: excerpt(raw)}
		if s := resp.Header.Get("Retry-After"); s != "" {
			if sec, err := strconv.Atoi(s); err == nil {
				return "", &retryAfterError{he, time.Duration(sec) * time.Second}
			}
		}
		return "", he
	}
	var cr struct {
		Choices []struct {
			Message Message `json:"message"`
		} `json:"choices"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &cr); err != nil {
		return "", fmt.Errorf("the answer is not chat-completions JSON (%v): %s", err, excerpt(raw))
	}
	if cr.Error != nil {
		return "", fmt.Errorf("the endpoint reports an error: %s", cr.Error.Message)
	}
	if len(cr.Choices) == 0 {
		return "", fmt.Errorf("the answer has no choices: %s", excerpt(raw))
	}
	return cr.Choices[0].Message.Content, nil
}

func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

const explainSystem = `We are studying neurons in a neural network language model. Each neuron looks for some particular thing in a short document. Look at the tokens the neuron activates on (activations are on a 0-10 scale; unlisted tokens are 0) and at the tokens its output promotes, and say in one short phrase what the neuron does. Reply with the phrase only.`

const simulateSystem = `We are studying neurons in a neural network language model. Given an explanation of what a neuron does, predict its activation on each token of a text, as an integer from 0 (none) to 10 (its strongest). Reply with a JSON array of numbers, one per token, in order, and nothing else.`

// explainPrompt lists the explanation examples and the lens.
func explainPrompt(e *Explanation, expl []span) string {
	var maxAct float64
	for _, s := range expl {
		for _, a := range s.acts {
			maxAct = max(maxAct, float64(a))
		}
	}
	var b strings.Builder
	n := 0
	for _, s := range expl {
		if s.kind != "top" || n >= 10 {
			continue
		}
		n++
		fmt.Fprintf(&b, "Example %d: %q\nActivating tokens:", n, strings.Join(s.text, ""))
		any := false
		for j, a := range s.acts {
			if v := scale10(float64(a), maxAct); v > 0 {
				fmt.Fprintf(&b, " %q=%d", s.text[j], v)
				any = true
			}
		}
		if !any {
			b.WriteString(" none")
		}
		b.WriteString("\n\n")
	}
	if e.Lens != nil && len(e.Lens.Promoted) > 0 {
		var p []string
		for _, t := range e.Lens.Promoted[:min(10, len(e.Lens.Promoted))] {
			p = append(p, fmt.Sprintf("%q", t.Text))
		}
		fmt.Fprintf(&b, "Its output promotes the next tokens: %s\n", strings.Join(p, ", "))
	}
	return b.String()
}

func scale10(a, maxAct float64) int {
	if maxAct <= 0 || a <= 0 {
		return 0
	}
	return int(math.Round(10 * min(a, maxAct) / maxAct))
}

// simulatePrompt asks for one activation per token.
func simulatePrompt(label string, s span) string {
	toks, _ := json.Marshal(s.text)
	return fmt.Sprintf("Explanation: %s\n\nTokens (%d, as a JSON array): %s\n\nReply with a JSON array of %d integers from 0 to 10.", label, len(s.text), toks, len(s.text))
}

// parseActivations reads the first JSON array in a reply: numbers, numeric
// strings, or objects with an "activation" field; n values (missing ones
// 0, extra ones dropped). It fails when no array is found.
func parseActivations(reply string, n int) ([]float64, error) {
	i := strings.IndexByte(reply, '[')
	if i < 0 {
		return nil, fmt.Errorf("no JSON array in the reply: %s", excerpt([]byte(reply)))
	}
	dec := json.NewDecoder(strings.NewReader(reply[i:]))
	var raw []any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("the reply's array is not JSON (%v): %s", err, excerpt([]byte(reply)))
	}
	out := make([]float64, n)
	for k, v := range raw {
		if k >= n {
			break
		}
		switch x := v.(type) {
		case float64:
			out[k] = x
		case string:
			f, _ := strconv.ParseFloat(strings.TrimSpace(x), 64)
			out[k] = f
		case map[string]any:
			for _, key := range []string{"activation", "act", "value"} {
				if f, ok := x[key].(float64); ok {
					out[k] = f
					break
				}
			}
		case []any:
			if len(x) > 0 {
				if f, ok := x[len(x)-1].(float64); ok {
					out[k] = f
				}
			}
		}
		out[k] = math.Max(0, math.Min(10, out[k]))
	}
	return out, nil
}

// explainAndScore asks for an explanation, then simulates it on the
// held-out examples and correlates. Failures are recorded, not fatal.
func (l *LLM) explainAndScore(ctx context.Context, e *Explanation, expl, held []span) *LLMResult {
	r := &LLMResult{Model: l.Model}
	label, err := l.Chat(ctx, []Message{{Role: "system", Content: explainSystem}, {Role: "user", Content: explainPrompt(e, expl)}})
	if err != nil {
		r.Error = "explanation: " + err.Error()
		return r
	}
	r.Label = strings.TrimSpace(label)
	if i := strings.IndexByte(r.Label, '\n'); i >= 0 {
		r.Label = strings.TrimSpace(r.Label[:i])
	}
	if len(r.Label) >= 2 && r.Label[0] == '"' && r.Label[len(r.Label)-1] == '"' && strings.Count(r.Label, `"`) == 2 {
		r.Label = r.Label[1 : len(r.Label)-1] // a wholly quoted reply
	}
	maxSpans := l.MaxSpans
	if maxSpans <= 0 {
		maxSpans = 12
	}
	var use []span
	var preds [][]float64
	var failed []string
	for _, s := range held {
		if len(use) >= maxSpans {
			break
		}
		reply, err := l.Chat(ctx, []Message{{Role: "system", Content: simulateSystem}, {Role: "user", Content: simulatePrompt(r.Label, s)}})
		if err == nil {
			var p []float64
			if p, err = parseActivations(reply, len(s.tokens)); err == nil {
				use = append(use, s)
				preds = append(preds, p)
				continue
			}
		}
		failed = append(failed, err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	if len(failed) > 0 {
		r.Error = fmt.Sprintf("simulation failed on %d of %d examples: %s", len(failed), len(failed)+len(use), failed[0])
	}
	i := 0
	sc, n := scoreSpans(use, func(span) []float64 { i++; return preds[i-1] })
	r.HeldOut = n
	if !math.IsNaN(sc) {
		r.Score = &sc
	}
	return r
}
