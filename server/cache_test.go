package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
)

// unwire decodes a wire tensor back to floats.
func unwire(t *testing.T, x api.Tensor) engine.Array {
	t.Helper()
	if x.DType != "float32" || len(x.Data)%4 != 0 {
		t.Fatalf("tensor %v: dtype %q with %d bytes", x.Shape, x.DType, len(x.Data))
	}
	a := engine.Array{Shape: x.Shape, Data: make([]float32, len(x.Data)/4)}
	for i := range a.Data {
		a.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(x.Data[4*i:]))
	}
	return a
}

func sameArray(t *testing.T, what string, got, want engine.Array) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	for i := range want.Data {
		if got.Data[i] != want.Data[i] { // bit for bit: the same engine call
			t.Fatalf("%s[%d] = %g, want %g", what, i, got.Data[i], want.Data[i])
		}
	}
}

// TestCache: /api/cache sends exactly what engine.Run computes (logits,
// a glob's hooks, their gradients, under an intervention), and refuses
// what the limits forbid.
func TestCache(t *testing.T) {
	s, ts := newTestServer(t, Config{})
	m := s.cfg.Model
	ids, err := m.Encode("Once upon a time", true)
	if err != nil {
		t.Fatal(err)
	}
	post, err := m.MatchHooks("blocks.*.mlp.hook_post")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  api.CacheRequest
		ereq engine.Request
	}{
		{"prompt, glob", api.CacheRequest{Prompt: "Once upon a time", Hooks: []string{"blocks.*.mlp.hook_post"}},
			engine.Request{Hooks: post}},
		{"ids, grad", api.CacheRequest{IDs: ids, Hooks: []string{"blocks.0.hook_resid_pre", "blocks.1.attn.hook_pattern"}, Grad: &api.CacheGrad{Pos: -1, Token: 7}},
			engine.Request{Hooks: []string{"blocks.0.hook_resid_pre", "blocks.1.attn.hook_pattern"}, Grad: &engine.GradTarget{Pos: len(ids) - 1, Token: 7}}},
		{"intervention", api.CacheRequest{IDs: ids, Hooks: []string{"blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"}, Specs: []string{"blocks.0.mlp.hook_post[:,:]=0"}},
			engine.Request{Hooks: []string{"blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r api.CacheResponse
			if code := call(t, ts, "POST", "/api/cache", tc.req, &r); code != 200 {
				t.Fatalf("status %d", code)
			}
			ereq := tc.ereq
			ereq.IDs = [][]int32{ids}
			if len(tc.req.Specs) > 0 {
				ivs, _, err := s.compileSpecs(m, tc.req.Specs)
				if err != nil {
					t.Fatal(err)
				}
				ereq.Interventions = ivs
			}
			want, err := m.Run(ereq)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Tokens) != len(ids) || r.Tokens[0].ID != ids[0] || !slices.Equal(r.Hooks, ereq.Hooks) {
				t.Fatalf("tokens %v hooks %v, want %d tokens and hooks %v", r.Tokens, r.Hooks, len(ids), ereq.Hooks)
			}
			sameArray(t, "logits", unwire(t, *r.Logits), want.Logits)
			for _, h := range ereq.Hooks {
				sameArray(t, h, unwire(t, r.Acts[h]), want.Acts[h])
				if ereq.Grad != nil {
					sameArray(t, "grad "+h, unwire(t, r.Grads[h]), want.Grads[h])
				}
			}
			if len(tc.req.Specs) > 0 && slices.ContainsFunc(unwire(t, r.Acts["blocks.0.mlp.hook_post"]).Data, func(v float32) bool { return v != 0 }) {
				t.Error("blocks.0.mlp.hook_post is not zero under [:,:]=0")
			}
		})
	}

	// Errors: the size cap (a server with a small one), bad input.
	_, tsSmall := newTestServer(t, Config{Limits: Limits{MaxCacheBytes: 4096}})
	for _, tc := range []struct {
		ts     string
		req    api.CacheRequest
		status int
		says   string
	}{
		{"small", api.CacheRequest{Prompt: "Once upon a time", Hooks: []string{"blocks.*.mlp.hook_post"}}, http.StatusRequestEntityTooLarge, "the limit is 4096"},
		{"", api.CacheRequest{Prompt: "Once", IDs: ids}, http.StatusBadRequest, "not both"},
		{"", api.CacheRequest{}, http.StatusBadRequest, "give a prompt or ids"},
		{"", api.CacheRequest{IDs: []int32{1, 1 << 30}}, http.StatusBadRequest, "ids[1]"},
		{"", api.CacheRequest{Prompt: "Once", Hooks: []string{"blocks.*.nope"}}, http.StatusBadRequest, "no hook point matches"},
		{"", api.CacheRequest{Prompt: "Once", Grad: &api.CacheGrad{Pos: 0, Token: 1}}, http.StatusBadRequest, "at least one hook"},
		{"", api.CacheRequest{Prompt: "Once", Hooks: []string{"hook_embed"}, Grad: &api.CacheGrad{Pos: 99, Token: 1}}, http.StatusBadRequest, "grad.pos"},
		{"", api.CacheRequest{Prompt: "Once", Specs: []string{"blocks.0.mlp.hook_post[:,:]=@x.npy"}}, http.StatusBadRequest, "reads a file"},
	} {
		srv := ts
		if tc.ts == "small" {
			srv = tsSmall
		}
		var e api.Error
		if code := call(t, srv, "POST", "/api/cache", tc.req, &e); code != tc.status || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%+v: %d %q, want %d saying %q", tc.req, code, e.Error, tc.status, tc.says)
		}
	}
}

// TestCacheBatch: several sequences per request. Equal lengths run as one
// unpadded batch (bit for bit engine.Run's); unequal ones are padded on the
// right, and each row's real positions then match that sequence run alone.
// The safetensors answer holds the JSON answer's tensors.
func TestCacheBatch(t *testing.T) {
	s, ts := newTestServer(t, Config{})
	m := s.cfg.Model
	hooks := []string{"blocks.0.mlp.hook_post", "blocks.1.attn.hook_z"}
	equal := [][]int32{{1, 5, 9, 17}, {1, 40, 41, 2}}
	var r api.CacheResponse
	if code := call(t, ts, "POST", "/api/cache", api.CacheRequest{Batch: equal, Hooks: hooks, Grad: &api.CacheGrad{Batch: 1, Pos: -1, Token: 3}}, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	want, err := m.Run(engine.Request{IDs: equal, Hooks: hooks, Grad: &engine.GradTarget{Batch: 1, Pos: 3, Token: 3}})
	if err != nil {
		t.Fatal(err)
	}
	sameArray(t, "logits", unwire(t, *r.Logits), want.Logits)
	for _, h := range hooks {
		sameArray(t, h, unwire(t, r.Acts[h]), want.Acts[h])
		sameArray(t, "grad "+h, unwire(t, r.Grads[h]), want.Grads[h])
	}
	if !slices.Equal(r.Lengths, []int{4, 4}) || len(r.Sequences) != 2 || r.Sequences[1].Tokens[1].ID != 40 {
		t.Fatalf("lengths %v sequences %+v", r.Lengths, r.Sequences)
	}

	prompts := []string{"Once upon a time", "Lily", "The little dog ran to the park and"}
	var p api.CacheResponse
	if code := call(t, ts, "POST", "/api/cache", api.CacheRequest{Prompts: prompts, Hooks: hooks}, &p); code != 200 {
		t.Fatalf("status %d", code)
	}
	n := slices.Max(p.Lengths)
	for b, text := range prompts {
		ids, _ := m.Encode(text, true)
		if p.Lengths[b] != len(ids) {
			t.Fatalf("lengths %v: prompt %d has %d tokens", p.Lengths, b, len(ids))
		}
		alone, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: hooks})
		if err != nil {
			t.Fatal(err)
		}
		got := unwire(t, *p.Logits)
		closeRows(t, "logits", got, alone.Logits, b, n, len(ids))
		for _, h := range hooks {
			closeRows(t, h, unwire(t, p.Acts[h]), alone.Acts[h], b, n, len(ids))
		}
	}

	// no_logits, and the safetensors answer of the same request.
	req := api.CacheRequest{Prompts: prompts, Hooks: hooks, NoLogits: true}
	var nl api.CacheResponse
	if code := call(t, ts, "POST", "/api/cache", req, &nl); code != 200 || nl.Logits != nil || len(nl.Acts) != len(hooks) {
		t.Fatalf("no_logits: status %d, logits %v", code, nl.Logits)
	}
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequest("POST", ts.URL+"/api/cache", bytes.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/html, "+SafetensorsType+";q=0.9")
	res, err := ts.Client().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != SafetensorsType {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	f, err := safetensors.OpenBytes("answer", raw)
	if err != nil {
		t.Fatal(err)
	}
	if names := f.Names(); len(names) != len(hooks) {
		t.Fatalf("safetensors holds %v, want %v", names, hooks)
	}
	var meta api.CacheResponse
	if err := json.Unmarshal([]byte(f.Metadata()["glia"]), &meta); err != nil || !slices.Equal(meta.Lengths, nl.Lengths) || !slices.Equal(meta.Hooks, hooks) {
		t.Fatalf("metadata %q: %v", f.Metadata()["glia"], err)
	}
	for _, h := range hooks {
		data, err := f.Float32(h)
		if err != nil {
			t.Fatal(err)
		}
		shape, _ := f.Shape(h)
		sameArray(t, h, engine.Array{Shape: shape, Data: data}, unwire(t, nl.Acts[h]))
	}

	// Limits: sequences per request, an empty one, a bad grad.batch.
	_, tsSmall := newTestServer(t, Config{Limits: Limits{MaxBatch: 2}})
	for _, tc := range []struct {
		ts   *httptest.Server
		req  api.CacheRequest
		code int
		says string
	}{
		{tsSmall, api.CacheRequest{Prompts: prompts}, http.StatusRequestEntityTooLarge, "3 sequences; the limit is 2"},
		{ts, api.CacheRequest{Batch: [][]int32{{1, 2}, {}}}, http.StatusBadRequest, "batch[1] is empty"},
		{ts, api.CacheRequest{Batch: [][]int32{{1, 2}, {7, 1 << 30}}}, http.StatusBadRequest, "batch[1][1]"},
		{ts, api.CacheRequest{Prompts: prompts, Prompt: "x"}, http.StatusBadRequest, "not both"},
		{ts, api.CacheRequest{Prompts: prompts, NoLogits: true}, http.StatusBadRequest, "nothing to return"},
		{ts, api.CacheRequest{Batch: equal, Hooks: hooks, Grad: &api.CacheGrad{Batch: 2, Token: 1}}, http.StatusBadRequest, "grad.batch 2"},
		{ts, api.CacheRequest{Prompts: prompts, Hooks: hooks, Grad: &api.CacheGrad{Batch: 1, Pos: 5, Token: 1}}, http.StatusBadRequest, "sequence 1 has positions"},
	} {
		var e api.Error
		if code := call(t, tc.ts, "POST", "/api/cache", tc.req, &e); code != tc.code || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%+v: %d %q, want %d saying %q", tc.req, code, e.Error, tc.code, tc.says)
		}
	}
}

// closeRows compares row b of a padded [batch, n, ...] answer, positions
// 0..l-1, with a sequence run alone ([1, l, ...]). Padding changes the
// matmul shapes, so the floats may differ in their last bits.
func closeRows(t *testing.T, what string, padded, alone engine.Array, b, n, l int) {
	t.Helper()
	w := len(alone.Data) / l
	if padded.Shape[1] != n || len(padded.Data) != padded.Shape[0]*n*w {
		t.Fatalf("%s: shape %v, alone %v", what, padded.Shape, alone.Shape)
	}
	for i, want := range alone.Data {
		got := padded.Data[b*n*w+i]
		if d := math.Abs(float64(got - want)); d > 1e-5*(1+math.Abs(float64(want))) {
			t.Fatalf("%s: sequence %d value %d = %g, alone %g", what, b, i, got, want)
		}
	}
}
