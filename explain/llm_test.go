package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glia-dev/glia/atlas"
)

func noSleep(context.Context, time.Duration) error { return nil }

func reply(w http.ResponseWriter, content string) {
	json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": content}}}})
}

// chatServer speaks chat completions: the explanation prompt gets a fixed
// label; the simulation prompt gets 10 for every token equal to hot.
func chatServer(t *testing.T, hot string, before func(n int64, w http.ResponseWriter) bool) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer sekret" {
			http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
			return
		}
		if before != nil && before(k, w) {
			return
		}
		var req struct {
			Model    string    `json:"model"`
			Messages []Message `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) != 2 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		user := req.Messages[1].Content
		if req.Messages[0].Content == explainSystem {
			reply(w, fmt.Sprintf("%q tokens\n", hot))
			return
		}
		const marker = "as a JSON array): "
		i := strings.Index(user, marker)
		var toks []string
		if i < 0 || json.NewDecoder(strings.NewReader(user[i+len(marker):])).Decode(&toks) != nil {
			http.Error(w, "no tokens", http.StatusBadRequest)
			return
		}
		acts := make([]int, len(toks))
		for j, tk := range toks {
			if tk == hot {
				acts[j] = 10
			}
		}
		b, _ := json.Marshal(acts)
		reply(w, "Sure! Here are the activations:\n```json\n"+string(b)+"\n```")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestChatRetriesAfter429(t *testing.T) {
	srv, n := chatServer(t, "x", func(k int64, w http.ResponseWriter) bool {
		if k == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"message":"rate limited"}}`, http.StatusTooManyRequests)
			return true
		}
		return false
	})
	l := &LLM{URL: srv.URL + "/v1", Key: "sekret", Model: "m", sleep: noSleep}
	out, err := l.Chat(context.Background(), []Message{{Role: "system", Content: explainSystem}, {Role: "user", Content: "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || !strings.Contains(out, `"x"`) {
		t.Fatalf("%d requests, reply %q", n.Load(), out)
	}
}

func TestChatTimeout(t *testing.T) {
	srv, n := chatServer(t, "x", func(k int64, w http.ResponseWriter) bool {
		time.Sleep(300 * time.Millisecond)
		return false
	})
	// Attempts are counted as the client sends them: on a loaded machine a
	// 30 ms attempt can time out before the server's handler sees it.
	var sent atomic.Int64
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	l := &LLM{URL: srv.URL, Key: "sekret", Model: "m", Timeout: 30 * time.Millisecond, Retries: 2, Client: client, sleep: noSleep}
	_, err := l.Chat(context.Background(), []Message{{Role: "system", Content: explainSystem}, {Role: "user", Content: "hi"}})
	if err == nil || !strings.Contains(err.Error(), "no answer within 30ms") || !strings.Contains(err.Error(), srv.URL+"/v1/chat/completions") {
		t.Fatalf("error %v", err)
	}
	if sent.Load() != 3 || n.Load() > 3 {
		t.Fatalf("%d attempts sent, %d received, want 3", sent.Load(), n.Load())
	}
	t.Logf("shown to the user: %v", err)
}

func TestChatErrorsShowStatusAndBody(t *testing.T) {
	srv, n := chatServer(t, "x", func(k int64, w http.ResponseWriter) bool {
		if k <= 10 {
			http.Error(w, `{"error":{"message":"the model is overloaded"}}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	l := &LLM{URL: srv.URL, Key: "sekret", Model: "m", Retries: 3, sleep: noSleep}
	_, err := l.Chat(context.Background(), []Message{{Role: "user", Content: "hi"}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "the model is overloaded") || n.Load() != 4 {
		t.Fatalf("after %d attempts: %v", n.Load(), err)
	}
	// A client error is not retried.
	l.Key = "wrong"
	before := n.Load()
	_, err = l.Chat(context.Background(), []Message{{Role: "user", Content: "hi"}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || n.Load() != before+1 {
		t.Fatalf("401: %d attempts: %v", n.Load()-before, err)
	}
}

func TestParseActivations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"[1, 2, 3]", 3, "[1 2 3]"},
		{"Here: [1, \"4\", 12] thanks", 3, "[1 4 10]"},
		{`[{"token":"a","activation":7},{"token":"b","activation":0}]`, 2, "[7 0]"},
		{`[["a", 3], ["b", 5]]`, 3, "[3 5 0]"},
		{"[1,2,3,4]", 2, "[1 2]"},
	} {
		got, err := parseActivations(tc.in, tc.n)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseActivations("I cannot do that", 3); err == nil {
		t.Error("no array: want an error")
	}
}

// synthetic is a unit that fires (5) on token 7 only.
func synthetic() *atlas.UnitReport {
	r := &atlas.UnitReport{Hook: "blocks.0.mlp.hook_post", Unit: 3, Threshold: 0.5}
	ex := func(w int64, seed int) atlas.Example {
		e := atlas.Example{Window: w, Start: 0, Center: 4, Pos: 4}
		for j := range 9 {
			tok := int32((seed*7 + j*3) % 11)
			if j == 4 {
				tok = 7
			}
			e.Tokens = append(e.Tokens, tok)
			e.Text = append(e.Text, fmt.Sprintf("t%d", tok))
			a := float32(0)
			if tok == 7 {
				a = 5
			}
			e.Acts = append(e.Acts, a)
		}
		e.Activation = 5
		return e
	}
	for i := range 10 {
		e := ex(int64(i), i)
		e.Rank = i
		r.Top = append(r.Top, e)
	}
	for i := range 4 {
		e := ex(int64(100+i), 50+i)
		e.Rank = i
		r.Random = append(r.Random, e)
	}
	return r
}

func TestSyntheticUnit(t *testing.T) {
	srv, _ := chatServer(t, "t7", nil)
	x := &Explainer{LLM: &LLM{URL: srv.URL, Key: "sekret", Model: "fake-model", sleep: noSleep}}
	e, err := x.Explain(context.Background(), synthetic())
	if err != nil {
		t.Fatal(err)
	}
	if e.Score == nil || *e.Score < 0.999 || !strings.HasPrefix(e.Label, `fires on "t7"`) {
		t.Fatalf("no-LLM: label %q score %v", e.Label, e.Score)
	}
	if e.LLM == nil || e.LLM.Error != "" || e.LLM.Label != `"t7" tokens` || e.LLM.Score == nil || *e.LLM.Score < 0.999 {
		t.Fatalf("LLM: %+v", e.LLM)
	}
	if e.HeldOut == 0 || e.LLM.HeldOut != e.HeldOut {
		t.Fatalf("held-out tokens: %d (LLM %d)", e.HeldOut, e.LLM.HeldOut)
	}
	if len(e.Facets.Facets) == 0 || !strings.Contains(e.Facets.Facets[0].Label, "t7") {
		t.Fatalf("facets %+v", e.Facets)
	}
}

// TestSplitNoLeak: held-out tokens never share a window position with an
// explanation token.
func TestSplitNoLeak(t *testing.T) {
	r := synthetic()
	r.Random = append(r.Random, r.Top[0]) // the same context again
	expl, held := split(r)
	type key struct {
		w int64
		p int
	}
	seen := map[key]bool{}
	for _, s := range expl {
		for j := range s.tokens {
			seen[key{s.window, s.start + j}] = true
		}
	}
	for _, s := range held {
		for j := range s.tokens {
			if s.keep[j] && seen[key{s.window, s.start + j}] {
				t.Fatalf("held-out token at window %d pos %d is in the explanation set", s.window, s.start+j)
			}
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
