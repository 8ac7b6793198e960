// Package server is glia's web UI and JSON API: `glia serve` browses a neuron
// atlas and runs the loaded model live (prompt explorer, interventions,
// activation patching). The pages (package web) use the same JSON API that
// server/openapi.yaml documents (served at /api/openapi.yaml; docs/serve.md
// walks through it).
//
// Security: the server listens on loopback unless given a bearer token;
// bodies, prompts, generations and patch sweeps are bounded; every request
// has a deadline; model runs go through a bounded queue; and no request ever
// names a file (intervention specs that read files are refused).
package server

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
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
	MaxRuns         int           // model runs at once (1)
	MaxQueue        int           // model requests waiting for a run slot before 429 (256)
}

// DefaultLimits are the limits `glia serve` starts with; its flags bind to
// them, and New fills a zero field from them.
func DefaultLimits() Limits {
	return Limits{MaxBody: 64 << 10, MaxPromptChars: 2000, MaxPromptTokens: 128, MaxNew: 48, MaxPatchTokens: 24,
		MaxPatchCells: 4096, MaxSpecs: 16, Timeout: 60 * time.Second, MaxRuns: 1, MaxQueue: 256}
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
	set(&l.MaxPromptChars, d.MaxPromptChars)
	set(&l.MaxPromptTokens, d.MaxPromptTokens)
	set(&l.MaxNew, d.MaxNew)
	set(&l.MaxPatchTokens, d.MaxPatchTokens)
	set(&l.MaxPatchCells, d.MaxPatchCells)
	set(&l.MaxSpecs, d.MaxSpecs)
	set(&l.MaxRuns, d.MaxRuns)
	if l.MaxQueue == 0 {
		l.MaxQueue = d.MaxQueue
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
}

// Config is what a server serves.
type Config struct {
	Atlas     *atlas.Atlas  // nil: no atlas (model pages only)
	Model     *engine.Model // nil: atlas pages only; model endpoints answer 503
	Token     string        // bearer token every /api/ call must carry ("" = none)
	PatchJSON []byte        // a `glia patch` result given on the command line, or nil
	PatchName string        // its file name, for display
	Limits    Limits
	Log       *log.Logger // nil: no request errors logged
}

// Server is an http.Handler.
type Server struct {
	cfg     Config
	lim     Limits
	mux     *http.ServeMux
	runs    *limiter
	idx     *atlasIndex
	model   *modelInfo
	handler http.Handler
}

// New prepares a server: it reads the atlas' per-unit summaries and traces
// the model's hook points once, and starts indexing top-example tokens for
// search in the background.
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, lim: cfg.Limits, mux: http.NewServeMux()}
	s.lim.defaults()
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
	}
	if cfg.PatchJSON != nil && !json.Valid(cfg.PatchJSON) {
		return nil, fmt.Errorf("serve: the patch result %s is not valid JSON", cfg.PatchName)
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
			writeJSON(w, http.StatusOK, v)
		})
	}
	api("GET /api/health", s.health)
	api("GET /api/overview", s.overview)
	api("GET /api/neurons/{hook}/{unit}", s.neuron)
	api("GET /api/search", s.search)
	api("POST /api/run", s.run)
	api("POST /api/intervene", s.intervene)
	api("POST /api/patch", s.patch)
	api("GET /api/patch/file", s.patchFile)
	s.mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Write(OpenAPI)
	})
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, apiErr(http.StatusNotFound, "no API endpoint %s %s (see /api/openapi.yaml)", r.Method, r.URL.Path))
	})
	s.mux.Handle("/", web.Handler())
}

// middleware adds security headers, the bearer check, the request deadline
// and panic recovery.
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
				writeJSON(w, http.StatusInternalServerError, api.Error{Error: fmt.Sprintf("internal error: %v", p), Status: 500})
			}
		}()
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if s.cfg.Token != "" && !s.authorized(r) {
				h.Set("WWW-Authenticate", `Bearer realm="glia"`)
				writeJSON(w, http.StatusUnauthorized, api.Error{Error: "this server needs a bearer token: Authorization: Bearer TOKEN", Status: 401})
				return
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, s.lim.MaxBody)
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.lim.Timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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
	writeJSON(w, status, api.Error{Error: err.Error(), Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// decode reads a JSON body into v, strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
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

// IsLoopback reports whether addr (host:port) listens only on loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
