// Package server is glia's web UI and JSON API: `glia serve` browses a neuron
// atlas and runs the loaded model live (prompt explorer, interventions,
// activation patching). The pages (package web) use the same JSON API that
// server/openapi.yaml documents (served at /api/openapi.yaml; docs/serve.md
// walks through it).
//
// Security: the server listens on loopback unless given a bearer token; it
// answers only to its own host names (no DNS rebinding) and refuses what a
// browser marks as cross-site; POST bodies must be JSON; connections,
// bodies (in size and in the time to send them), prompts, generations and
// patch sweeps are bounded; every request has a deadline; model runs go
// through a bounded queue; and no request ever names a file (intervention
// specs that read files are refused).
package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
	"github.com/glia-dev/glia/web"
)

// OpenAPI is the API description, served at /api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Limits bound what one request may cost.
type Limits struct {
	MaxBody         int64         // request body bytes (64 KiB)
	MaxPromptChars  int           // characters of any prompt (2000)
	MaxPromptTokens int           // tokens of any prompt, BOS included (128, at most the model's context)
	MaxNew          int           // generated tokens per intervention request (48)
	MaxPatchTokens  int           // tokens of a patching prompt (24)
	MaxPatchCells   int           // layers × columns of a patching sweep (4096)
	MaxSpecs        int           // intervention specs per request (16)
	Timeout         time.Duration // per request, queueing included (60s)
	BodyTimeout     time.Duration // to receive a request body, counted from its headers (10s, at most Timeout)
	MaxConns        int           // connections at once, through Listener (128); the rest wait to be accepted
	MaxRuns         int           // model runs at once (1)
	MaxQueue        int           // model requests waiting for a run slot before 429 (256)
	MaxCacheBytes   int64         // tensor bytes one /api/cache answer may hold (64 MiB)
	MaxBatch        int           // sequences per /api/cache request (64)
	MaxStimuli      int           // prompts per /api/compare request (512)
}

// DefaultLimits are the limits `glia serve` starts with; its flags bind to
// them, and New fills a zero field from them.
func DefaultLimits() Limits {
	return Limits{MaxBody: 64 << 10, MaxPromptChars: 2000, MaxPromptTokens: 128, MaxNew: 48, MaxPatchTokens: 24,
		MaxPatchCells: 4096, MaxSpecs: 16, Timeout: 60 * time.Second, MaxRuns: 1, MaxQueue: 256,
		BodyTimeout: 10 * time.Second, MaxConns: 128, MaxCacheBytes: 64 << 20, MaxBatch: 64, MaxStimuli: 512}
}

func (l *Limits) defaults() {
	d := DefaultLimits()
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if l.MaxBody <= 0 {
		l.MaxBody = d.MaxBody
	}
	if l.MaxCacheBytes <= 0 {
		l.MaxCacheBytes = d.MaxCacheBytes
	}
	set(&l.MaxPromptChars, d.MaxPromptChars)
	set(&l.MaxPromptTokens, d.MaxPromptTokens)
	set(&l.MaxNew, d.MaxNew)
	set(&l.MaxPatchTokens, d.MaxPatchTokens)
	set(&l.MaxPatchCells, d.MaxPatchCells)
	set(&l.MaxSpecs, d.MaxSpecs)
	set(&l.MaxBatch, d.MaxBatch)
	set(&l.MaxStimuli, d.MaxStimuli)
	set(&l.MaxRuns, d.MaxRuns)
	if l.MaxQueue == 0 {
		l.MaxQueue = d.MaxQueue
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = d.BodyTimeout
	}
	l.BodyTimeout = min(l.BodyTimeout, l.Timeout)
	set(&l.MaxConns, d.MaxConns)
}

// Config is what a server serves.
type Config struct {
	Atlas     *atlas.Atlas  // nil: no atlas (model pages only)
	Model     *engine.Model // nil: atlas pages only; model endpoints answer 503
	Token     string        // bearer token every /api/ call must carry ("" = none)
	PatchJSON []byte        // a `glia patch` result given on the command line, or nil
	PatchName string        // its file name, for display
	GraphJSON []byte        // a `glia attribute graph --out` file given on the command line, or nil
	Limits    Limits
	Log       *log.Logger // nil: no request errors logged

	// The host names the server answers to (any other Host header gets 403,
	// against DNS rebinding) are loopback names, IP literals, Addr's host
	// and AllowHosts (--allow-host, e.g. a name the machine has on the LAN).
	Addr       string // the listen address
	AllowHosts []string
}

// Server is an http.Handler.
type Server struct {
	cfg     Config
	lim     Limits
	mux     *http.ServeMux
	runs    *limiter
	idx     *atlasIndex
	model   *modelInfo
	hosts   map[string]bool // host names answered to, besides loopback names and IP literals
	handler http.Handler
}

// New prepares a server: it reads the atlas' per-unit summaries and traces
// the model's hook points once, and starts indexing top-example tokens for
// search in the background.
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, lim: cfg.Limits, mux: http.NewServeMux(), hosts: map[string]bool{}}
	s.lim.defaults()
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && host != "" {
		s.hosts[canonicalHost(host)] = true
	}
	for _, h := range cfg.AllowHosts {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		s.hosts[canonicalHost(h)] = true
	}
	if m := cfg.Model; m != nil && m.Dims().MaxCtx > 0 {
		s.lim.MaxPromptTokens = min(s.lim.MaxPromptTokens, m.Dims().MaxCtx)
	}
	if s.lim.MaxQueue < 0 {
		s.lim.MaxQueue = 0
	}
	s.runs = newLimiter(s.lim.MaxRuns, s.lim.MaxQueue)
	if cfg.Atlas != nil {
		idx, err := newAtlasIndex(cfg.Atlas)
		if err != nil {
			return nil, err
		}
		s.idx = idx
	}
	if cfg.Model != nil {
		mi, err := newModelInfo(cfg.Model)
		if err != nil {
			return nil, err
		}
		s.model = mi
		if cfg.Atlas != nil {
			// Built here, not on first use: with --max-runs above 1,
			// requests compile specs concurrently.
			mi.means = &intervene.AtlasMeans{Path: cfg.Atlas.Path}
		}
	}
	if cfg.PatchJSON != nil && !json.Valid(cfg.PatchJSON) {
		return nil, fmt.Errorf("serve: the patch result %s is not valid JSON", cfg.PatchName)
	}
	if cfg.GraphJSON != nil && !json.Valid(cfg.GraphJSON) {
		return nil, fmt.Errorf("serve: the attribution graph file is not valid JSON")
	}
	s.routes()
	s.handler = s.middleware(s.mux)
	return s, nil
}

// Close stops background work.
func (s *Server) Close() {
	if s.idx != nil {
		s.idx.close()
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Limits returns the limits in force (defaults filled in).
func (s *Server) Limits() Limits { return s.lim }

func (s *Server) routes() {
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := h(w, r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.writeJSON(w, r, http.StatusOK, v)
		})
	}
	api("GET /api/health", s.health)
	api("GET /api/overview", s.overview)
	api("GET /api/neurons/{hook}/{unit}", s.neuron)
	s.mux.HandleFunc("GET /api/neurons/{hook}/{unit}/exemplars/{file}", s.exemplarPNG)
	api("GET /api/search", s.search)
	api("POST /api/run", s.run)
	api("POST /api/intervene", s.intervene)
	api("POST /api/patch", s.patch)
	api("GET /api/patch/file", s.patchFile)
	api("POST /api/attribute", s.attribute)
	s.mux.HandleFunc("POST /api/cache", s.cacheHandler)
	api("POST /api/compare", s.compareHooks)
	api("POST /api/concepts", s.conceptsHandler)
	api("POST /api/attrgraph", s.attrGraph)
	api("POST /api/gradcam", s.gradCAM)
	api("GET /api/attrgraph/file", s.attrGraphFile)
	s.mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Write(OpenAPI)
	})
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, apiErr(http.StatusNotFound, "no API endpoint %s %s (see /api/openapi.yaml)", r.Method, r.URL.Path))
	})
	s.mux.Handle("/", web.Handler())
}

// middleware adds security headers, panic recovery, the checks of host,
// origin, bearer token and content type (all before the body is read), the
// body's size and time limits, and the request deadline.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				if s.cfg.Log != nil {
					s.cfg.Log.Printf("panic serving %s: %v\n%s", r.URL.Path, p, debug.Stack())
				}
				s.writeJSON(w, r, http.StatusInternalServerError, api.Error{Error: fmt.Sprintf("internal error: %v", p), Status: 500})
			}
		}()
		if err := s.check(r); err != nil {
			if e, ok := err.(*apiError); ok && e.status == http.StatusUnauthorized {
				h.Set("WWW-Authenticate", `Bearer realm="glia"`)
			}
			s.refuse(w, r, err)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			body, err := s.readBody(w, r)
			if err != nil {
				s.refuse(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.lim.Timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// check refuses, before the body is read, requests for another host (DNS
// rebinding), API calls that a browser sends from another site, without the
// token, or with a POST body that is not JSON.
func (s *Server) check(r *http.Request) error {
	if !s.answersTo(r.Host) {
		return apiErr(http.StatusForbidden, "this server does not answer to the host name %q (a web page may be trying DNS rebinding); "+
			"if it is one of this machine's names, start glia serve with --allow-host %s", r.Host, hostOnly(r.Host))
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return nil // pages hold no data; another site may link to them
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return apiErr(http.StatusForbidden, "refused: the browser marks this request as %s (Sec-Fetch-Site: %s); only this server's own pages may call the API", site, site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); o == "null" || err != nil || !strings.EqualFold(u.Host, r.Host) {
			return apiErr(http.StatusForbidden, "refused: a page from origin %s may not call this API; only this server's own pages (%s) may", o, r.Host)
		}
	}
	if s.cfg.Token != "" && !s.authorized(r) {
		return apiErr(http.StatusUnauthorized, "this server needs a bearer token: Authorization: Bearer TOKEN")
	}
	if r.Method == http.MethodPost {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return apiErr(http.StatusUnsupportedMediaType, "POST bodies must be sent as Content-Type: application/json (got %q)", r.Header.Get("Content-Type"))
		}
	}
	return nil
}

// answersTo reports whether host (a Host header) names this server:
// loopback names, the --addr host, --allow-host names, and IP literals,
// which DNS rebinding cannot produce (a page's Host is its own origin's).
func (s *Server) answersTo(host string) bool {
	h := canonicalHost(hostOnly(host))
	return h == "" || h == "localhost" || strings.HasSuffix(h, ".localhost") || net.ParseIP(h) != nil || s.hosts[h]
}

// hostOnly drops the port of a Host header, if any.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

func canonicalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// refuse answers an error before the body was read (or after reading it
// failed) and closes the connection. Otherwise net/http would read the rest
// of the body at the client's pace, before sending the answer (unless told
// Connection: close) and again after it (unless reads fail at once).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Connection", "close")
	s.fail(w, r, err)
	http.NewResponseController(w).SetReadDeadline(time.Now())
}

// readBody reads the whole body, at most MaxBody bytes within BodyTimeout:
// a client that trickles its body cannot hold a connection for longer.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.lim.BodyTimeout)) == nil
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.lim.MaxBody))
	var mb *http.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
		if deadline {
			rc.SetReadDeadline(time.Time{})
		}
		return b, nil
	case errors.As(err, &mb):
		return nil, err
	case errors.As(err, &ne) && ne.Timeout():
		return nil, apiErr(http.StatusRequestTimeout, "the request body did not arrive within %s", s.lim.BodyTimeout)
	default:
		return nil, apiErr(http.StatusBadRequest, "reading the request body: %v", err)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) == 1
}

// apiError is an error with an HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func apiErr(status int, format string, args ...any) error {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var ae *apiError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.As(err, &mb):
		status = http.StatusRequestEntityTooLarge
		err = fmt.Errorf("request body over %d bytes", mb.Limit)
	case errors.Is(err, errBusy):
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
		err = fmt.Errorf("the request took longer than the server's limit of %s", s.lim.Timeout)
	case errors.Is(err, context.Canceled):
		status = 499 // client closed the request; nobody reads this
	}
	if status >= 500 && s.cfg.Log != nil {
		s.cfg.Log.Printf("%s %s: %d %v", r.Method, r.URL.Path, status, err)
	}
	s.writeJSON(w, r, status, api.Error{Error: err.Error(), Status: status})
}

// writeJSON encodes v before writing the status, so that a value JSON
// cannot hold (NaN, ±Inf) is a 500 that says so, not a 200 with an empty
// body.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		if s.cfg.Log != nil {
			s.cfg.Log.Printf("%s %s: 500 encoding the response: %v", r.Method, r.URL.Path, err)
		}
		status = http.StatusInternalServerError
		buf.Reset()
		enc.Encode(api.Error{Error: fmt.Sprintf("internal error: the response could not be encoded as JSON: %v", err), Status: status})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decode reads a JSON body into v, strictly. Invalid UTF-8 is refused
// rather than read as U+FFFD.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return apiErr(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if !utf8.Valid(body) {
		return apiErr(http.StatusBadRequest, "bad JSON body: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return apiErr(http.StatusBadRequest, "bad JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(http.StatusBadRequest, "bad JSON body: more than one value")
	}
	return nil
}

// errBusy is returned when the run queue is full.
var errBusy = errors.New("the model is busy: too many requests are waiting for it; retry shortly")

// limiter bounds concurrent model runs; up to maxQueue more wait for a slot
// (until their deadline); beyond that, requests are refused at once.
type limiter struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
}

func newLimiter(runs, queue int) *limiter {
	return &limiter{slots: make(chan struct{}, runs), maxQueue: int64(queue)}
}

func (l *limiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if l.waiting.Add(1) > l.maxQueue {
		l.waiting.Add(-1)
		return errBusy
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limiter) release() { <-l.slots }

// withModel runs fn holding a run slot. The engine is not safe for
// concurrent graph compilation and eviction, so everything that touches the
// model (compiling specs, running, generating) happens inside.
func (s *Server) withModel(ctx context.Context, fn func(m *engine.Model) error) error {
	if s.cfg.Model == nil {
		return apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	if err := s.runs.acquire(ctx); err != nil {
		return err
	}
	defer s.runs.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(s.cfg.Model)
}

// IsLoopback reports whether addr (host:port) listens only on loopback: an
// IP literal must be a loopback address, and a name must resolve only to
// loopback addresses (whatever its spelling: "localhost" included).
func IsLoopback(addr string) bool {
	return isLoopback(context.Background(), net.DefaultResolver, addr)
}

type ipResolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

func isLoopback(ctx context.Context, res ipResolver, addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ips, err := res.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// HTTPServer returns an http.Server for s. It sets no ReadTimeout: that
// deadline would stay on the connection while a long model run is going
// and cancel its context; the middleware bounds the time to read a body
// instead.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// Listener caps ln at Limits.MaxConns connections at once; further clients
// wait in the kernel's accept queue until one closes.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, s.lim.MaxConns), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
