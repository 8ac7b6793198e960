package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
)

var fuzzRoutes = []string{"/api/run", "/api/intervene", "/api/patch", "/api/attribute", "/api/cache", "/api/compare", "/api/concepts"}

// FuzzAPI posts arbitrary bodies to the POST routes (route picks one) of a
// server on the embedded model and the test atlas. Every answer must be
// JSON; an error must say what went wrong; the only 5xx allowed are the
// documented ones: 503 (deadline) and 500 for a response that JSON cannot
// hold (an intervention that drives the logits to infinity). Seeds are in
// testdata/fuzz/FuzzAPI.
//
//	GOEXPERIMENT=simd go test ./server -run '^$' -fuzz FuzzAPI -fuzztime 60s
func FuzzAPI(f *testing.F) {
	for route, body := range map[byte]string{
		0: `{"prompt":"Once upon a time","units":["blocks.1.mlp.hook_post:3"],"top":3,"attn_layer":1}`,
		1: `{"prompt":"Once upon a time","specs":["blocks.1.mlp.hook_post[:,3]=mean","blocks.0.hook_resid_post[-1,0:8]*=2"],"max_new":2}`,
		2: `{"clean":"Tim gave the ball to","corrupt":"Lily gave the ball to","metric":"logit-diff:Lily,Tim","per":"layer"}`,
		5: `{"a":"blocks.*.hook_resid_post","prompts":["Once upon a time","Lily","The dog ran"],"method":"rsa","compare":"pearson","recording":{"reps":[[[1,2],[3,1],[0,5]],[[1,3],[2,1],[1,4]]]}}`,
		6: `{"corpora":[{"name":"a","texts":["The dog ran","A cat sat"]},{"name":"b","texts":["Mom made a cake","They ate bread"]}],"methods":"mean-diff,auroc","verify":"aura"}`,
		4: `{"prompt":"Once upon a time","hooks":["blocks.*.mlp.hook_post"],"specs":["blocks.0.mlp.hook_post[:,:]=0"],"grad":{"pos":-1,"token":5}}`,
	} {
		f.Add(route, []byte(body))
	}
	m, db := testModelAtlas(f)
	a, err := atlas.Open(db)
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	s, err := New(Config{Atlas: a, Model: m, Limits: Limits{Timeout: 20 * time.Second, MaxNew: 4, MaxPromptTokens: 16, MaxPatchTokens: 12, MaxPatchCells: 64}})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Host = "127.0.0.1:8765"
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		out := rec.Body.Bytes()
		if !json.Valid(out) {
			t.Fatalf("POST %s %q: %d with a body that is not JSON: %q", path, body, rec.Code, out)
		}
		if rec.Code == 200 {
			return
		}
		var e api.Error
		if json.Unmarshal(out, &e) != nil || e.Error == "" || e.Status != rec.Code {
			t.Fatalf("POST %s %q: %d with %q, want an error body", path, body, rec.Code, out)
		}
		unencodable := rec.Code == 500 && strings.Contains(e.Error, "could not be encoded as JSON")
		if rec.Code >= 500 && rec.Code != 503 && !unencodable {
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, e.Error)
		}
	})
}
