package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/metrics"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
	"github.com/limbic-dev/limbic/serve/telemetry"
)

// Config configures a Server.
type Config struct {
	Model       *model.Model
	Pack        *vecpack.Pack // nil: plain completions without readout or steering
	PackPath    string
	APIKey      string // when set, every route but /health and the dashboard's files needs "Authorization: Bearer KEY"
	MaxBody     int64  // request body limit in bytes (default 1 MiB)
	MaxTokens   int    // most tokens a request may generate (default 1024)
	DefaultMax  int    // max_tokens when the request gives none (default 256)
	MaxSeqs     int    // sequences decoded together (default 16)
	Log         *slog.Logger
	Fingerprint string

	// HTTP edge.
	MaxQueue      int           // requests waiting for a sequence slot before new ones get 429 (default 64; < 0: no limit)
	BodyTimeout   time.Duration // most time to read a request body (default 30s)
	HeaderTimeout time.Duration // most time to read a request's headers, for HTTPServer (default 10s)
	// BindAddr is the address the server listens on ("127.0.0.1:8080"). On a
	// loopback address only loopback Host headers are served (a guard
	// against DNS rebinding); beyond loopback without an APIKey, New logs a
	// warning. Empty: no Host check, no warning (tests, embedding).
	BindAddr string

	// Monitoring. Rules are evaluated on every sequence when there is a pack.
	Rules       []monitor.Rule
	Store       *store.Store     // conversations, traces and alerts (nil: none)
	Metrics     *metrics.Metrics // Prometheus metrics (nil: none)
	TraceStride int              // store every n-th position's readout (default 1; needs Store)
	NoTelemetry bool             // no readout, no rules: plain serving (for comparison)
	Dashboard   http.Handler     // served at / (nil: none)
}

// Server serves the API. Create it with New and stop it with Close.
type Server struct {
	cfg      Config
	m        *model.Model
	pack     *vecpack.Pack
	batcher  *model.Batcher
	tmpl     *chat.Template
	tmplOpts chat.Options
	plain    bool // no chat template of the model's own
	mux      *http.ServeMux
	log      *slog.Logger
	created  int64

	tel      *telemetry.Monitor // readout, rules and their actions (nil without a pack)
	rules    *monitor.RuleSet   // tel's rules (nil: none)
	store    *store.Store
	metrics  *metrics.Metrics
	notifier *monitor.Notifier
	bg       context.Context // background work (webhooks, retention)
	stopBG   context.CancelFunc

	handler   http.Handler // mux behind the HTTP edge (edge.go)
	hostCheck bool         // serve loopback Host headers only
	inflight  atomic.Int64 // generation requests admitted and not yet finished
}

// New builds a server for cfg.Model.
func New(cfg Config) (*Server, error) {
	if cfg.Model == nil {
		return nil, errors.New("serve: no model")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 1024
	}
	if cfg.DefaultMax <= 0 {
		cfg.DefaultMax = min(256, cfg.MaxTokens)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 64
	}
	if cfg.MaxSeqs <= 0 {
		cfg.MaxSeqs = 16
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 10 * time.Second
	}
	m := cfg.Model
	if m.Tok == nil {
		return nil, errors.New("serve: the model has no tokenizer")
	}
	if cfg.Pack != nil {
		if cfg.Pack.D() != m.Dim {
			return nil, fmt.Errorf("serve: vector pack %s has width %d, the model %d", cfg.PackPath, cfg.Pack.D(), m.Dim)
		}
	}
	s := &Server{cfg: cfg, m: m, pack: cfg.Pack, log: cfg.Log, created: time.Now().Unix()}
	t, o, err := chat.ForTokenizer(m.Tok)
	if err != nil {
		return nil, fmt.Errorf("serve: chat template: %w", err)
	}
	s.tmpl, s.tmplOpts, s.plain = t, o, m.Tok.ChatTemplate() == ""
	if cfg.TraceStride <= 0 {
		s.cfg.TraceStride = 1
	}
	s.store, s.metrics = cfg.Store, cfg.Metrics
	s.bg, s.stopBG = context.WithCancel(context.Background())
	if s.pack != nil {
		var rules []monitor.Rule
		if !cfg.NoTelemetry {
			rules = cfg.Rules
		}
		tel, err := telemetry.New(s.pack, telemetry.Options{NLayers: m.Layers, Dim: m.Dim, Rules: rules})
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		s.tel, s.rules = tel, tel.Rules()
	}
	s.notifier = monitor.NewNotifier()
	bo := model.BatcherOptions{MaxSeqs: cfg.MaxSeqs}
	if s.metrics != nil {
		bo.OnStep = func(st model.StepStats) {
			s.metrics.ObserveStep(st.DecodeRows, st.Duration)
			s.metrics.ObservePrefill(st.PrefillRows)
			// The step's batch still counts the sequences that ended in
			// it: the batcher's live counts make the gauges drop to 0
			// when the last one ends.
			s.refreshLoad()
		}
	}
	s.batcher = model.NewBatcher(m.Transformer, bo)
	s.routes()
	if err := s.setupEdge(); err != nil {
		s.batcher.Close()
		return nil, err
	}
	if s.store != nil {
		if n, err := s.store.MarkInterrupted(context.Background()); err == nil && n > 0 {
			s.log.Info("conversations left running by an earlier process marked interrupted", "n", n)
		}
		go s.resendPending()
	}
	return s, nil
}

// Close stops the batcher (requests in flight fail) and waits for webhook
// deliveries to give up; the store is the caller's to close.
func (s *Server) Close() {
	s.batcher.Close()
	s.stopBG()
	s.notifier.Wait()
}

// Handler returns the server's HTTP handler: the routes behind the HTTP
// edge (request log, Host check, OpenAI-shaped 404 and 405).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle := func(pattern, endpoint string, h http.HandlerFunc) {
		var hh http.Handler = h
		if s.metrics != nil {
			hh = s.metrics.Instrument(endpoint, hh)
		}
		mux.Handle(pattern, s.auth(hh))
	}
	handle("GET /v1/models", "models", s.handleModels)
	handle("POST /v1/chat/completions", "chat", s.handleChat)
	handle("POST /v1/completions", "completions", s.handleCompletion)
	handle("GET /v1/limbic/alerts", "alerts", s.handleAlerts)
	handle("GET /v1/limbic/conversations", "conversations", s.handleConversations)
	handle("GET /v1/limbic/conversations/{id}", "conversation", s.handleConversation)
	handle("GET /v1/limbic/rules", "rules", s.handleRules)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.auth(s.metrics.Handler()))
	}
	if s.cfg.Dashboard != nil {
		// The dashboard's static files hold no data and go without the API
		// key: the page asks for the key and sends it on every API call.
		mux.Handle("GET /", s.cfg.Dashboard)
	}
	s.mux = mux
}

// auth checks the bearer token when an API key is configured.
func (s *Server) auth(h http.Handler) http.Handler {
	if s.cfg.APIKey == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !constantTimeEqual(got, s.cfg.APIKey) {
			writeError(w, http.StatusUnauthorized, "invalid_api_key", "missing or wrong API key (send Authorization: Bearer KEY)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	s.reply(w, http.StatusOK, map[string]any{"object": "list", "data": []ModelInfo{s.modelInfo()}})
}

func (s *Server) modelInfo() ModelInfo {
	mi := ModelInfo{ID: s.m.Name, Object: "model", Created: s.created, OwnedBy: "limbic"}
	mi.Limbic.ChatTemplate = "model"
	if s.plain {
		mi.Limbic.ChatTemplate = "plain"
	}
	mi.Limbic.ContextLen = s.m.MaxSeq
	if s.pack == nil {
		mi.Limbic.Note = "no vector pack loaded: plain completions without emotion readout or steering (run `limbic run` or pass --vectors)"
		return mi
	}
	mi.Limbic.Vectors = s.cfg.PackPath
	mi.Limbic.Emotions = s.pack.Meta.Emotions
	mi.Limbic.Layers = s.pack.Meta.Layers
	mi.Limbic.DefaultLayer = s.defaultLayer()
	mi.Limbic.Readout, mi.Limbic.Steering = true, true
	return mi
}

func (s *Server) defaultLayer() int {
	if s.pack == nil {
		return -1
	}
	return telemetry.DefaultLayer(s.pack)
}

// apiError is an error with an HTTP status for the client; param names
// the request field at fault ("limbic.steer[0].strength"), if any.
type apiError struct {
	status int
	typ    string
	msg    string
	param  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", msg: fmt.Sprintf(format, a...)}
}

// badParam is a 400 naming the request field at fault.
func badParam(param, format string, a ...any) *apiError {
	e := badRequest(format, a...)
	e.param = param
	return e
}

// writeJSON encodes v before writing anything, so that a value that does
// not encode (a NaN) becomes a 500 error body rather than an empty 200; it
// returns the encoding error for the caller to log.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		b, _ = marshal(ErrorBody{Error: ErrorDetail{Message: "the response could not be encoded (a non-finite number?)", Type: "server_error"}})
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	return err
}

// marshal is json.Marshal without HTML escaping, with a trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// reply writes v as JSON and logs an encoding error.
func (s *Server) reply(w http.ResponseWriter, status int, v any) {
	if err := writeJSON(w, status, v); err != nil {
		s.log.Error("encoding a response", "err", err)
	}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeAPIError(w, &apiError{status: status, typ: typ, msg: msg})
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	d := ErrorDetail{Message: e.msg, Type: e.typ}
	if e.param != "" {
		d.Param = &e.param
	}
	if code := errorCode(e); code != "" {
		d.Code = &code
	}
	writeJSON(w, e.status, ErrorBody{Error: d})
}

// errorCode is OpenAI's error code for e.
func errorCode(e *apiError) string {
	switch e.status {
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestTimeout:
		return "request_timeout"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	}
	switch {
	case e.typ != "invalid_request_error" && e.typ != "server_error":
		return e.typ
	case e.status == http.StatusNotFound:
		return "not_found"
	case e.param != "":
		return "invalid_value"
	}
	return ""
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeAPIError(w, ae)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	writeError(w, http.StatusInternalServerError, "server_error", err.Error())
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
