package server

import (
	"encoding/binary"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
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
			sameArray(t, "logits", unwire(t, r.Logits), want.Logits)
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
