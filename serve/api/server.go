package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/metrics"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
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

	emotions   []string       // the pack's emotions, the order of every reader's scores
	emoIndex   map[string]int // position of each in emotions
	rules      *monitor.RuleSet
	ruleLayers []int
	regulate   []regulateVecs
	store      *store.Store
	metrics    *metrics.Metrics
	notifier   *monitor.Notifier
	bg         context.Context // background work (webhooks, retention)
	stopBG     context.CancelFunc

	readersMu sync.Mutex
	readers   map[int]*readout.Reader
}

// regulateVecs are a regulate rule's counter-steer vectors per layer.
type regulateVecs struct {
	rule string
	vecs []steer.LayerVector
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
	s.store, s.metrics, s.readers = cfg.Store, cfg.Metrics, map[int]*readout.Reader{}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	if s.pack != nil {
		s.emotions = s.pack.Meta.Emotions
		s.emoIndex = make(map[string]int, len(s.emotions))
		for i, e := range s.emotions {
			s.emoIndex[e] = i
		}
		if !cfg.NoTelemetry && len(cfg.Rules) > 0 {
			if err := s.setupRules(cfg.Rules); err != nil {
				return nil, err
			}
		}
	}
	s.notifier = monitor.NewNotifier()
	bo := model.BatcherOptions{MaxSeqs: cfg.MaxSeqs}
	if s.metrics != nil {
		bo.OnStep = func(st model.StepStats) {
			s.metrics.ObserveStep(st.DecodeRows, st.Duration)
			s.metrics.ObservePrefill(st.PrefillRows)
			s.metrics.SetQueue(st.Waiting, st.Seqs)
		}
	}
	s.batcher = model.NewBatcher(m.Transformer, bo)
	s.routes()
	if s.store != nil {
		if n, err := s.store.MarkInterrupted(context.Background()); err == nil && n > 0 {
			s.log.Info("conversations left running by an earlier process marked interrupted", "n", n)
		}
		go s.resendPending()
	}
	return s, nil
}

// setupRules builds the rule set against the pack: emotions and layers must
// exist; regulate steers are resolved to vectors.
func (s *Server) setupRules(rules []monitor.Rule) error {
	if err := monitor.Validate(rules, s.emotions); err != nil {
		return fmt.Errorf("serve: rules: %w", err)
	}
	rs, err := monitor.NewRuleSet(rules, s.defaultLayer())
	if err != nil {
		return fmt.Errorf("serve: rules: %w", err)
	}
	for _, k := range rs.Keys() {
		if _, err := s.pack.LayerIndex(k.Layer); err != nil {
			return fmt.Errorf("serve: rules read %s: %w", k, err)
		}
		if k.Stat == monitor.Stat(readout.ZScore) {
			if r, err := s.reader(k.Layer); err != nil || !r.HasBaseline() {
				return fmt.Errorf("serve: rules read %s: the vector pack has no neutral baseline for z-scores at layer %d", k, k.Layer)
			}
		}
		if !slices.Contains(s.ruleLayers, k.Layer) {
			s.ruleLayers = append(s.ruleLayers, k.Layer)
		}
	}
	for _, r := range rs.Rules() {
		if r.Action.Type != monitor.Regulate {
			continue
		}
		spec, err := r.Action.SteerSpec()
		if err != nil {
			return fmt.Errorf("serve: rule %s: %w", r.Name, err)
		}
		vecs, err := steer.Vectors(spec, s.pack, steer.Options{Kind: vecpack.Denoised, NLayers: s.m.Layers, Dim: s.m.Dim})
		if err != nil {
			return fmt.Errorf("serve: rule %s: %w", r.Name, err)
		}
		s.regulate = append(s.regulate, regulateVecs{rule: r.Name, vecs: vecs})
	}
	s.rules = rs
	return nil
}

// reader returns the shared reader of a layer (all emotions).
func (s *Server) reader(layer int) (*readout.Reader, error) {
	s.readersMu.Lock()
	defer s.readersMu.Unlock()
	if r := s.readers[layer]; r != nil {
		return r, nil
	}
	r, err := readout.NewReader(s.pack, layer, nil, vecpack.Denoised)
	if err != nil {
		return nil, err
	}
	s.readers[layer] = r
	return r, nil
}

// Close stops the batcher (requests in flight fail) and waits for webhook
// deliveries to give up; the store is the caller's to close.
func (s *Server) Close() {
	s.batcher.Close()
	s.stopBG()
	s.notifier.Wait()
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
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
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []ModelInfo{s.modelInfo()}})
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
	if s.pack.Meta.BestLayer >= 0 {
		return s.pack.Meta.BestLayer
	}
	return s.pack.Meta.Layers[len(s.pack.Meta.Layers)*2/3]
}

// apiError is an error with an HTTP status for the client.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid_request_error", fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Message: msg, Type: typ}})
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.typ, ae.msg)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	writeError(w, http.StatusInternalServerError, "server_error", err.Error())
}

// decode reads a JSON body under the size limit, rejecting unknown fields
// only inside the limbic extension (OpenAI clients send fields we ignore).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{http.StatusRequestEntityTooLarge, "invalid_request_error", fmt.Sprintf("request body over the limit of %d bytes", s.cfg.MaxBody)}
		}
		return badRequest("reading the body: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return badRequest("malformed JSON at byte %d: %v", se.Offset, err)
		}
		return badRequest("invalid request: %v", err)
	}
	return nil
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
