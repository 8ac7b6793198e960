package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/explain"
)

// rawRequest opens a connection to ts and sends head (a request line and
// headers, without the blank line), then the blank line.
func rawRequest(t *testing.T, ts *httptest.Server, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSlowBody: clients that send headers announcing a 60,000-byte body
// and then trickle it are cut off once the request's deadline passes, not
// held for as long as they keep sending.
func TestSlowBody(t *testing.T) {
	const clients = 20
	timeout := time.Second
	_, ts := newTestServer(t, Config{Limits: Limits{Timeout: timeout}})
	var wg sync.WaitGroup
	held := make([]time.Duration, clients)
	t0 := time.Now()
	for i := range clients {
		c := rawRequest(t, ts, "POST /api/run HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: 60000")
		wg.Add(2)
		stop := make(chan struct{})
		go func() { // one byte every 100 ms, until the server hangs up
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		go func() { // the connection is held until the server closes it
			defer wg.Done()
			defer close(stop)
			c.SetReadDeadline(time.Now().Add(5 * timeout))
			io.Copy(io.Discard, c)
			held[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	sort.Slice(held, func(a, b int) bool { return held[a] < held[b] })
	t.Logf("%d slow-body connections held; closed after %.2f s (first) to %.2f s (last); request timeout %s",
		clients, held[0].Seconds(), held[clients-1].Seconds(), timeout)
	if last := held[clients-1]; last > timeout+2*time.Second {
		t.Errorf("a slow-body connection was held for %s; the request timeout is %s", last, timeout)
	}
}

// TestUnauthorizedSlowBody: without the token, a client gets 401 at once,
// without sending the body it announced, and the connection is closed
// rather than held while net/http waits for that body.
func TestUnauthorizedSlowBody(t *testing.T) {
	_, ts := newTestServer(t, Config{Token: "s3cret"})
	c := rawRequest(t, ts, "POST /api/run HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: 60000")
	t0 := time.Now()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response within 3s: %v", err)
	}
	if res.StatusCode != 401 {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	got := time.Since(t0)
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("the connection was held open after the 401: %v", err)
	}
	t.Logf("401 after %s without the body; connection closed after %s", got, time.Since(t0))
}

// TestHostAndCrossSite: the server answers only to its own host names, POSTs
// must be JSON, and requests a browser marks as cross-site are refused, so
// that neither DNS rebinding nor another site's page can use the API.
func TestHostAndCrossSite(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	own := ts.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(own)
	body := []byte(`{"prompt":"Once"}`)
	for _, tc := range []struct {
		name, method, path string
		hdr                []string
		want               int
		msg                string
	}{
		{"own address", "GET", "/api/health", []string{"Host", own}, 200, ""},
		{"localhost", "GET", "/api/health", []string{"Host", "localhost:" + port}, 200, ""},
		{"ipv6 loopback", "GET", "/api/health", []string{"Host", "[::1]:" + port}, 200, ""},
		{"rebound name", "GET", "/api/overview", []string{"Host", "attacker.example"}, 403, "attacker.example"},
		{"rebound name, page", "GET", "/", []string{"Host", "attacker.example:" + port}, 403, "--allow-host"},
		{"json post", "POST", "/api/run", []string{"Content-Type", "application/json"}, 200, ""},
		{"json post with charset", "POST", "/api/run", []string{"Content-Type", "application/json; charset=utf-8"}, 200, ""},
		{"no content type", "POST", "/api/run", nil, 415, "application/json"},
		{"text/plain post", "POST", "/api/run", []string{"Content-Type", "text/plain"}, 415, "application/json"},
		{"form post", "POST", "/api/run", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"same-origin fetch", "POST", "/api/run", []string{"Content-Type", "application/json", "Sec-Fetch-Site", "same-origin", "Origin", "http://" + own}, 200, ""},
		{"cross-site fetch", "POST", "/api/run", []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
		{"cross-site read", "GET", "/api/overview", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
		{"same-site read", "GET", "/api/overview", []string{"Sec-Fetch-Site", "same-site"}, 403, "same-site"},
		{"foreign origin", "POST", "/api/run", []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, 403, "evil.example"},
		{"foreign origin, json", "POST", "/api/run", []string{"Content-Type", "application/json", "Origin", "https://evil.example"}, 403, "evil.example"},
		{"null origin", "POST", "/api/run", []string{"Content-Type", "application/json", "Origin", "null"}, 403, "null"},
		{"other port", "GET", "/api/overview", []string{"Origin", "http://127.0.0.1:1"}, 403, "127.0.0.1:1"},
		{"cross-site navigation to a page", "GET", "/", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b any
			if tc.method == "POST" {
				b = body
			}
			var e api.Error
			if code := callRaw(t, ts, tc.method, tc.path, b, &e, tc.hdr...); code != tc.want || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%d %q, want %d and a message containing %q", code, e.Error, tc.want, tc.msg)
			}
		})
	}
}

// TestInvalidUTF8Body: a body that is not UTF-8 is refused, not read with
// U+FFFD in place of the bad bytes.
func TestInvalidUTF8Body(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var e api.Error
	for _, b := range []string{"{\"prompt\":\"Once \xff upon\"}", "{\"prompt\":\"Once\",\"units\":[\"\xc3\"]}", "{\"prompt\":\"\xed\xa0\x80\"}"} {
		if code := call(t, ts, "POST", "/api/run", []byte(b), &e); code != 400 || !strings.Contains(e.Error, "UTF-8") {
			t.Errorf("%q: %d %s, want 400 naming UTF-8", b, code, e.Error)
		}
	}
}

// TestNonFinite: non-finite values in specs are refused, and a response
// that cannot be encoded (an intervention that drives the logits to
// infinity) is a 500 with a message and a log line, not a 200 with an empty
// body.
func TestNonFinite(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	_, ts := newTestServer(t, Config{Log: log.New(lockedWriter{&mu, &logs}, "", 0)})
	var e api.Error
	for _, spec := range []string{"blocks.0.mlp.hook_post[:,0:20]=NaN", "blocks.0.mlp.hook_post[:,0:20]*=Inf", "blocks.0.mlp.hook_post[:,0:20]+=-Inf", "blocks.0.mlp.hook_post[:,0:20]*=1e308"} {
		e = api.Error{}
		if code := call(t, ts, "POST", "/api/intervene", map[string]any{"prompt": "Once", "specs": []string{spec}, "max_new": 0}, &e); code != 400 || !strings.Contains(e.Error, "finite") {
			t.Errorf("%s: %d %q, want 400 naming finite values", spec, code, e.Error)
		}
	}
	e = api.Error{}
	code := call(t, ts, "POST", "/api/intervene", map[string]any{"prompt": "Once upon a time", "specs": []string{"blocks.0.hook_resid_post[:,0:64]*=3e38"}, "max_new": 0}, &e)
	mu.Lock()
	logged := logs.String()
	mu.Unlock()
	if code != 500 || !strings.Contains(e.Error, "encod") || !strings.Contains(logged, "encod") {
		t.Errorf("overflowing intervention: %d %q, log %q; want 500 saying the response could not be encoded, and a log line", code, e.Error, logged)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestMeansRace compiles mean-ablation specs from concurrent requests, as
// --max-runs 2 does; under -race it fails if the atlas means they share are
// built or cached without synchronisation. No forward pass is involved.
func TestMeansRace(t *testing.T) {
	s, _ := newTestServer(t, Config{Limits: Limits{MaxRuns: 2}})
	specs := []string{"blocks.1.mlp.hook_post[:,3]=mean", "blocks.2.mlp.hook_post[:,3]=mean", "blocks.3.mlp.hook_post[:,3]=mean"}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.compileSpecs(s.cfg.Model, specs[i%len(specs):]); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestAllowHosts: the --addr host and --allow-host names are answered to,
// in any case and with a trailing dot; other names are not.
func TestAllowHosts(t *testing.T) {
	_, ts := newTestServer(t, Config{Addr: "glia-box.lan:8765", AllowHosts: []string{"glia.example", "Other.Example:9000"}})
	for host, want := range map[string]int{"glia-box.lan:8765": 200, "GLIA-BOX.lan": 200, "glia.example.": 200, "other.example:1": 200,
		"glia.example.evil.example": 403, "evil.example": 403, "foo.localhost:8765": 200} {
		if code := callRaw(t, ts, "GET", "/api/health", nil, &api.Error{}, "Host", host); code != want {
			t.Errorf("Host %s: %d, want %d", host, code, want)
		}
	}
}

// TestConnLimit: beyond MaxConns, clients wait to be accepted until a
// connection closes.
func TestConnLimit(t *testing.T) {
	const limit = 3
	s, _ := newTestServer(t, Config{Limits: Limits{MaxConns: limit}})
	addr := serveLoopback(t, s)
	var held []net.Conn
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	get := func(d time.Duration) error {
		client := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
		res, err := client.Get("http://" + addr + "/api/health")
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	if err := get(500 * time.Millisecond); err == nil {
		t.Fatalf("a request was served with %d connections already open; the limit is %d", limit, limit)
	}
	held[0].Close()
	t0 := time.Now()
	if err := get(5 * time.Second); err != nil {
		t.Fatalf("after a connection closed: %v", err)
	}
	t.Logf("with %d connections held, a new client waited; served %s after one closed", limit, time.Since(t0))
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

// TestIsLoopbackResolves: a name is loopback only if every address it
// resolves to is, "localhost" included.
func TestIsLoopbackResolves(t *testing.T) {
	res := fakeResolver{"localhost": {"127.0.0.1", "192.168.1.9"}, "lo6": {"::1"}, "box": {"127.0.1.1", "::1"}, "empty": {}}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"localhost:8765", false}, {"lo6:80", true}, {"box:1", true}, {"empty:1", false}, {"unknown:1", false},
		{"127.0.0.1:8765", true}, {"[::1]:80", true}, {"0.0.0.0:8765", false}, {":8765", false}, {"localhost", false},
	} {
		if got := isLoopback(context.Background(), res, tc.addr); got != tc.want {
			t.Errorf("isLoopback(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestReadOnlyAtlas: an atlas whose -shm file cannot be created (as on a
// read-only mount; here a dangling symlink, which SQLite will not follow)
// is served, glia explain's tables included, and nothing is written to it.
func TestReadOnlyAtlas(t *testing.T) {
	_, db := testModelAtlas(t)
	path := filepath.Join(t.TempDir(), "ro.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o444); err != nil {
		t.Fatal(err)
	}
	rw, err := atlas.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := explain.OpenStore(rw.DB()); err != nil { // the tables glia explain adds
		t.Fatal(err)
	}
	rw.Close()
	for _, f := range []string{"-wal", "-shm"} {
		os.Remove(path + f)
	}
	if err := os.Symlink(filepath.Join(t.TempDir(), "missing"), path+"-shm"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	a, err := atlas.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s, err := New(Config{Atlas: a})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()
	var n api.NeuronResponse
	if code := call(t, ts, "GET", "/api/neurons/blocks.1.mlp.hook_post/3", nil, &n); code != 200 || n.Report == nil {
		t.Fatalf("neuron page from a read-only atlas: %d", code)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Errorf("serving changed the atlas file")
	}
}

// TestSearchWhileIndexing: searches by layer right after start-up, while
// the token index is still being built, under -race: the summaries they
// read are the ones the index build writes.
func TestSearchWhileIndexing(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if code := call(t, ts, "GET", fmt.Sprintf("/api/search?layer=%d&sort=max&limit=200", i), nil, nil); code != 200 {
					t.Errorf("search by layer %d: %d", i, code)
				}
			}
		}()
	}
	wg.Wait()
}

// TestPatchDeadline: a sweep stops at the request's deadline (checked
// between forwards) instead of running to the end.
func TestPatchDeadline(t *testing.T) {
	req := api.PatchRequest{Clean: "Once upon a time, there was a little girl named Lily. She",
		Corrupt: "Once upon a time, there was a little boy named Tim. She", Metric: "logit-diff: Lily, Tim", Hook: "mlp_post", Per: "neuron"}
	_, full := newTestServer(t, Config{})
	t0 := time.Now()
	var ok api.PatchResponse
	if code := call(t, full, "POST", "/api/patch", req, &ok); code != 200 {
		t.Fatalf("full sweep: %d", code)
	}
	whole := time.Since(t0)
	_, short := newTestServer(t, Config{Limits: Limits{Timeout: whole / 10}})
	t0 = time.Now()
	var e api.Error
	code := call(t, short, "POST", "/api/patch", req, &e)
	took := time.Since(t0)
	t.Logf("whole sweep %v; with a %v limit: %d after %v (%s)", whole, whole/10, code, took, e.Error)
	if code != 503 || !strings.Contains(e.Error, "took longer than") || took > whole/2 {
		t.Errorf("with a %v limit: %d %q after %v (the whole sweep takes %v)", whole/10, code, e.Error, took, whole)
	}
}
