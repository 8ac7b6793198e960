package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/server"
)

func TestServeRefusesOpenAddressWithoutToken(t *testing.T) {
	t.Setenv("GLIA_TOKEN", "")
	var errb bytes.Buffer
	Stderr = &errb
	defer func() { Stderr = os.Stderr }()
	err := runServe([]string{"--addr", "0.0.0.0:0", "--no-model", "--db", "x.db"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address: give --token") {
		t.Fatalf("got %v", err)
	}
	if err := runServe([]string{"--no-model"}); err == nil || !strings.Contains(err.Error(), "nothing to serve") {
		t.Fatalf("got %v", err)
	}
}

// TestServeCommand starts glia serve on a loopback port with the embedded
// model, a token and a --patch file, and calls it.
func TestServeCommand(t *testing.T) {
	patch := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(patch, []byte(`{"kind":"resid_pre","per":"pos","mean_effect":[[1,0.5],[null,0.25]],"pairs":[]}`), 0o644)
	addrc := make(chan string, 1)
	stop := make(chan struct{})
	serveReady, serveStop = func(a string) { addrc <- a }, stop
	defer func() { serveReady, serveStop = nil, nil }()
	var errb bytes.Buffer
	Stderr = &errb
	defer func() { Stderr = os.Stderr }()
	done := make(chan error, 1)
	go func() { done <- runServe([]string{"--addr", "127.0.0.1:0", "--token", "abc", "--patch", patch}) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	get := func(path, tok string) (int, []byte) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, _ := get("/api/overview", ""); code != 401 {
		t.Errorf("without token: %d", code)
	}
	code, body := get("/api/patch/file", "abc")
	var pf struct {
		Name string `json:"name"`
		Grid struct {
			Values [][]*float64 `json:"values"`
		} `json:"grid"`
	}
	if code != 200 || json.Unmarshal(body, &pf) != nil || pf.Name != "p.json" || len(pf.Grid.Values) != 2 || pf.Grid.Values[1][0] != nil {
		t.Errorf("patch file: %d %s", code, body)
	}
	if code, body := get("/", ""); code != 200 || !strings.Contains(string(body), "/static/app.js") {
		t.Errorf("page: %d", code)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "#token=<token>") {
		t.Errorf("stderr: %s", errb.String())
	}
}

// TestServeLimitFlagDefaults: the serve flags default to
// server.DefaultLimits, and each sets its own limit.
func TestServeLimitFlagDefaults(t *testing.T) {
	def := server.DefaultLimits()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	lim := limitFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if *lim != def {
		t.Fatalf("limits after no flags: %+v, want DefaultLimits %+v", *lim, def)
	}
	for _, c := range []struct {
		flag, arg string
		def       any
		got       func(server.Limits) any
		want      any
	}{
		{"max-runs", "3", def.MaxRuns, func(l server.Limits) any { return l.MaxRuns }, 3},
		{"max-queue", "7", def.MaxQueue, func(l server.Limits) any { return l.MaxQueue }, 7},
		{"timeout", "2s", def.Timeout, func(l server.Limits) any { return l.Timeout }, 2 * time.Second},
		{"max-body", "1000", def.MaxBody, func(l server.Limits) any { return l.MaxBody }, int64(1000)},
		{"max-prompt-tokens", "9", def.MaxPromptTokens, func(l server.Limits) any { return l.MaxPromptTokens }, 9},
	} {
		f := fs.Lookup(c.flag)
		if f == nil {
			t.Errorf("--%s: no such flag", c.flag)
			continue
		}
		if want := fmt.Sprint(c.def); f.DefValue != want {
			t.Errorf("--%s defaults to %s, DefaultLimits has %s", c.flag, f.DefValue, want)
		}
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		lim := limitFlags(fs)
		if err := fs.Parse([]string{"--" + c.flag, c.arg}); err != nil {
			t.Fatal(err)
		}
		if got := c.got(*lim); got != c.want {
			t.Errorf("--%s %s: limit is %v, want %v", c.flag, c.arg, got, c.want)
		}
	}
}
