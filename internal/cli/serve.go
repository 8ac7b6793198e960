package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/server"
)

func init() {
	Register(&Command{Name: "serve", Summary: "web UI and JSON API: browse an atlas, run prompts, interventions and patching live", Run: runServe})
}

// serveReady, when set (tests), receives the listening address.
var serveReady func(addr string)

// serveStop, when set (tests), stops the server when closed.
var serveStop <-chan struct{}

func runServe(args []string) error {
	fs := newFlags("serve")
	var mf modelFlags
	mf.register(fs)
	db := fs.String("db", "", "atlas database to browse (glia atlas build)")
	addr := fs.String("addr", "127.0.0.1:8765", "listen address; anything but loopback needs --token")
	token := fs.String("token", "", "bearer token every API call must carry (default $GLIA_TOKEN); required off loopback")
	patch := fs.String("patch", "", "a glia patch result (OUT.json) to show on the patching page")
	graph := fs.String("graph", "", "a glia attribute graph --out file to show on the graph page (/attrgraph?file=1)")
	noModel := fs.Bool("no-model", false, "serve the atlas only: no prompt explorer, interventions or patching")
	lim := limitFlags(fs)
	stdinEOF := fs.Bool("exit-on-stdin-eof", false, "stop when standard input reaches end of file: a parent that starts glia serve with a pipe as its stdin (the Python client) takes the server down with it, even when killed")
	var allowHosts stringList
	fs.Var(&allowHosts, "allow-host", "a host name to answer to besides loopback names, IP literals and the --addr host (repeatable; e.g. the machine's LAN name)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("GLIA_TOKEN")
	}
	if !server.IsLoopback(*addr) && *token == "" {
		return fmt.Errorf("--addr %s is not a loopback address: give --token (or $GLIA_TOKEN) so that only holders of the token can use the API", *addr)
	}
	if *db == "" && *noModel {
		return fmt.Errorf("nothing to serve: give --db, or drop --no-model")
	}
	cfg := server.Config{Token: *token, Log: log.New(Stderr, "glia serve: ", log.LstdFlags), Addr: *addr, AllowHosts: allowHosts, Limits: *lim}
	if lim.MaxQueue == 0 {
		cfg.Limits.MaxQueue = -1 // refuse at once when every slot is busy
	}
	if *db != "" {
		a, err := atlas.OpenReadOnly(*db)
		if err != nil {
			return err
		}
		defer a.Close()
		cfg.Atlas = a
	}
	if !*noModel {
		m, err := mf.load()
		if err != nil {
			return err
		}
		cfg.Model = m
		if cfg.Atlas != nil && cfg.Atlas.Meta.ModelFingerprint != m.Fingerprint() {
			fmt.Fprintf(Stderr, "glia serve: warning: the atlas was built for %s (fingerprint %s), the model is %s (%s)\n",
				cfg.Atlas.Meta.ModelName, cfg.Atlas.Meta.ModelFingerprint, m.Name, m.Fingerprint())
		}
	}
	if *patch != "" {
		b, err := os.ReadFile(*patch)
		if err != nil {
			return err
		}
		cfg.PatchJSON, cfg.PatchName = b, filepath.Base(*patch)
	}
	if *graph != "" {
		b, err := os.ReadFile(*graph)
		if err != nil {
			return err
		}
		cfg.GraphJSON = b
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// What was bound, whatever the name resolved to when it was checked.
	if tcp, ok := ln.Addr().(*net.TCPAddr); *token == "" && (!ok || !tcp.IP.IsLoopback()) {
		ln.Close()
		return fmt.Errorf("--addr %s is bound to %s, not a loopback address: give --token (or $GLIA_TOKEN)", *addr, ln.Addr())
	}
	hs := s.HTTPServer()
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(Stderr, "glia serve: %s on %s\n", describe(cfg), url)
	if *token != "" {
		fmt.Fprintf(Stderr, "glia serve: API calls need Authorization: Bearer <token>; open %s#token=<token> in a browser\n", url)
	}
	if serveReady != nil {
		serveReady(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.Listener(ln)) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	stop := serveStop
	eof := make(chan struct{})
	if *stdinEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin) // returns at EOF: the parent is gone
			close(eof)
		}()
	}
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-sig:
	case <-stop:
	case <-eof:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(ctx)
}

// limitFlags binds the limit flags to server.DefaultLimits, so that the
// defaults live in one place; limits without a flag keep their default.
func limitFlags(fs *flag.FlagSet) *server.Limits {
	lim := server.DefaultLimits()
	fs.IntVar(&lim.MaxRuns, "max-runs", lim.MaxRuns, "model runs at once (the rest queue)")
	fs.IntVar(&lim.MaxQueue, "max-queue", lim.MaxQueue, "model requests allowed to wait; beyond this the server answers 429")
	fs.DurationVar(&lim.Timeout, "timeout", lim.Timeout, "limit per request, queueing included")
	fs.Int64Var(&lim.MaxBody, "max-body", lim.MaxBody, "request body limit in bytes")
	fs.IntVar(&lim.MaxPromptTokens, "max-prompt-tokens", lim.MaxPromptTokens, "prompt length limit in tokens")
	fs.DurationVar(&lim.BodyTimeout, "body-timeout", lim.BodyTimeout, "limit on the time to receive a request body (at most --timeout)")
	fs.Int64Var(&lim.MaxCacheBytes, "max-cache-bytes", lim.MaxCacheBytes, "tensor bytes one /api/cache answer may hold (the Python client's run_with_cache)")
	fs.IntVar(&lim.MaxBatch, "max-batch", lim.MaxBatch, "sequences per /api/cache request")
	fs.IntVar(&lim.MaxStimuli, "max-stimuli", lim.MaxStimuli, "prompts per /api/compare request")
	fs.IntVar(&lim.MaxConns, "max-conns", lim.MaxConns, "connections at once; more clients wait to be accepted")
	return &lim
}

func describe(cfg server.Config) string {
	what := ""
	if cfg.Atlas != nil {
		what = fmt.Sprintf("atlas %s", cfg.Atlas.Path)
	}
	if cfg.Model != nil {
		if what != "" {
			what += " with "
		}
		what += "model " + cfg.Model.Name
	}
	return what
}
