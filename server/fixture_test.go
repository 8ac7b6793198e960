package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/glia-dev/glia/api"
	defaultcorpus "github.com/glia-dev/glia/assets/corpus"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/atlasmodel"
)

var fixture struct {
	once  sync.Once
	dir   string
	model *engine.Model
	db    string
	err   error
}

// testModelAtlas loads the embedded model and builds a small atlas of its
// MLP neurons over the embedded corpus (once per test binary).
func testModelAtlas(t testing.TB) (*engine.Model, string) {
	t.Helper()
	fixture.once.Do(func() {
		fixture.dir, fixture.err = os.MkdirTemp("", "glia-serve-test")
		if fixture.err != nil {
			return
		}
		fixture.model, fixture.err = engine.Load("")
		if fixture.err != nil {
			return
		}
		sh, err := corpus.FSShard(defaultcorpus.FS(), defaultcorpus.Name)
		if err != nil {
			fixture.err = err
			return
		}
		fixture.db = filepath.Join(fixture.dir, "atlas.db")
		_, fixture.err = atlas.Build(context.Background(), atlasmodel.New(fixture.model), atlas.BuildOptions{
			Out: fixture.db, Shards: []corpus.Shard{sh}, CorpusOptions: corpus.Options{DocSep: defaultcorpus.DocSep},
			MaxTokens: 1200, CheckpointEvery: time.Hour, Batch: 4,
		})
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.model, fixture.db
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// newTestServer serves the test atlas and model with cfg's other fields.
func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	m, db := testModelAtlas(t)
	a, err := atlas.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Atlas, cfg.Model = a, m
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close(); a.Close() })
	return s, ts
}

// call does one request (a body is sent as application/json) and decodes
// the JSON answer into out (if non-nil).
func call(t testing.TB, ts *httptest.Server, method, path string, body any, out any, hdr ...string) int {
	t.Helper()
	if body != nil {
		hdr = append([]string{"Content-Type", "application/json"}, hdr...)
	}
	return callRaw(t, ts, method, path, body, out, hdr...)
}

// callRaw is call with only the headers given ("Host" sets the request's
// host). A body is []byte as is, or anything else as JSON.
func callRaw(t testing.TB, ts *httptest.Server, method, path string, body any, out any, hdr ...string) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, ts.URL+path, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	e, isErr := out.(*api.Error)
	if out != nil && !isErr && res.StatusCode == 200 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	if isErr && res.StatusCode != 200 {
		if err := json.Unmarshal(data, e); err != nil {
			t.Errorf("%s %s: %d with a body that is not a JSON error: %q", method, path, res.StatusCode, data)
		}
	}
	return res.StatusCode
}

// serveLoopback serves s on a loopback port as glia serve does (HTTPServer
// behind Listener) and returns the address.
func serveLoopback(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer()
	go hs.Serve(s.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}
