package metrics

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ZBuckets are the readout histogram's buckets, for z-scores against the
// neutral baseline (most mass within ±2, alerts from about ±3).
var ZBuckets = []float64{-6, -4, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 6}

// Webhook delivery results.
const (
	Delivered = "delivered" // the receiver answered 2xx
	Failed    = "failed"    // retries exhausted or a final error
	Abandoned = "abandoned" // stopped by shutdown
)

// Options configure New.
type Options struct {
	// ReadoutEmotions limits the readout histogram to these emotions (each
	// costs a histogram series); nil observes every emotion passed.
	ReadoutEmotions []string
	// NoRuntime leaves out the Go runtime and process collectors.
	NoRuntime bool
}

// Metrics are the server's Prometheus metrics, in their own registry.
// The fields are exported for callers that need more than the helpers.
type Metrics struct {
	Registry *prometheus.Registry

	Requests        *prometheus.CounterVec   // limbic_requests_total{endpoint,code}
	RequestDuration *prometheus.HistogramVec // limbic_request_duration_seconds{endpoint}
	TokensGenerated prometheus.Counter       // limbic_tokens_generated_total
	PromptTokens    prometheus.Counter       // limbic_prompt_tokens_total
	DecodeTPS       prometheus.Gauge         // limbic_decode_tokens_per_second
	StepDuration    prometheus.Histogram     // limbic_decode_step_seconds
	QueueDepth      prometheus.Gauge         // limbic_queue_depth
	ActiveSeqs      prometheus.Gauge         // limbic_active_sequences
	Readout         *prometheus.HistogramVec // limbic_readout{emotion}
	Alerts          *prometheus.CounterVec   // limbic_alerts_total{rule,state}
	Deliveries      *prometheus.CounterVec   // limbic_webhook_deliveries_total{result}
	StoreErrors     *prometheus.CounterVec   // limbic_store_errors_total{op}
	NonFinite       prometheus.Counter       // limbic_readout_nonfinite_total

	handler http.Handler

	mu       sync.RWMutex
	readout  map[string]prometheus.Observer // cached children of Readout
	allowed  map[string]bool                // nil: all
	tpsMu    sync.Mutex
	tps      float64
	tpsValid bool
}

// New registers the metrics in a new registry.
func New(o Options) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limbic_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "limbic_request_duration_seconds", Help: "HTTP request duration (to the end of the stream) by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"endpoint"}),
		TokensGenerated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "limbic_tokens_generated_total", Help: "Tokens generated (decoded) over all sequences.",
		}),
		PromptTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "limbic_prompt_tokens_total", Help: "Prompt tokens processed (prefilled).",
		}),
		DecodeTPS: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "limbic_decode_tokens_per_second", Help: "Decode throughput over all sequences: moving average of per-step tokens/s (0 when idle).",
		}),
		StepDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "limbic_decode_step_seconds", Help: "Duration of one batched decode step.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "limbic_queue_depth", Help: "Requests waiting for a sequence slot.",
		}),
		ActiveSeqs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "limbic_active_sequences", Help: "Sequences being generated.",
		}),
		Readout: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "limbic_readout", Help: "Per-token emotion readouts (z-scores against the neutral baseline) of generated tokens.",
			Buckets: ZBuckets,
		}, []string{"emotion"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limbic_alerts_total", Help: "Alert events by rule and state (pending, firing, renewed, resolved, inactive).",
		}, []string{"rule", "state"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limbic_webhook_deliveries_total", Help: "Webhook deliveries by result (delivered, failed, abandoned).",
		}, []string{"result"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limbic_store_errors_total", Help: "Failed database writes by operation.",
		}, []string{"op"}),
		NonFinite: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "limbic_readout_nonfinite_total", Help: "Readout values left out of limbic_readout because they were NaN or infinite.",
		}),
		readout: map[string]prometheus.Observer{},
	}
	m.Registry.MustRegister(m.Requests, m.RequestDuration, m.TokensGenerated, m.PromptTokens, m.DecodeTPS, m.StepDuration,
		m.QueueDepth, m.ActiveSeqs, m.Readout, m.Alerts, m.Deliveries, m.StoreErrors, m.NonFinite)
	if !o.NoRuntime {
		m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.ReadoutEmotions != nil {
		m.allowed = map[string]bool{}
		for _, e := range o.ReadoutEmotions {
			m.allowed[e] = true
		}
	}
	for _, r := range []string{Delivered, Failed, Abandoned} {
		m.Deliveries.WithLabelValues(r) // export zeros
	}
	m.handler = promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
	return m
}

// Handler serves the metrics (GET /metrics).
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveRequest counts a finished request; endpoint should be the route
// pattern ("/v1/chat/completions"), not the raw path.
func (m *Metrics) ObserveRequest(endpoint string, code int, d time.Duration) {
	m.Requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	m.RequestDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Instrument wraps h to count its requests under endpoint. The wrapped
// ResponseWriter keeps http.Flusher (for streaming) and Unwrap (for
// http.ResponseController).
func (m *Metrics) Instrument(endpoint string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		defer func() { m.ObserveRequest(endpoint, rec.code, time.Since(start)) }()
		h.ServeHTTP(rec, r)
	})
}

type recorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	r.wrote = true
	http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ObserveStep records one batched decode step that generated tokens tokens
// (one per active sequence) in d, and updates the tokens/s gauge (an
// exponential moving average over steps, weight 0.2 for the newest).
func (m *Metrics) ObserveStep(tokens int, d time.Duration) {
	m.TokensGenerated.Add(float64(tokens))
	m.StepDuration.Observe(d.Seconds())
	if d <= 0 || tokens < 0 {
		return
	}
	rate := float64(tokens) / d.Seconds()
	m.tpsMu.Lock()
	if !m.tpsValid {
		m.tps, m.tpsValid = rate, true
	} else {
		m.tps += 0.2 * (rate - m.tps)
	}
	m.DecodeTPS.Set(m.tps)
	m.tpsMu.Unlock()
}

// ObservePrefill counts prompt tokens.
func (m *Metrics) ObservePrefill(tokens int) { m.PromptTokens.Add(float64(tokens)) }

// SetQueue sets the queue depth and the number of active sequences; with no
// active sequence the tokens/s gauge drops to 0.
func (m *Metrics) SetQueue(queued, active int) {
	m.QueueDepth.Set(float64(queued))
	m.ActiveSeqs.Set(float64(active))
	if active == 0 {
		m.tpsMu.Lock()
		m.tps, m.tpsValid = 0, false
		m.DecodeTPS.Set(0)
		m.tpsMu.Unlock()
	}
}

// ObserveReadout records one token's readouts, values parallel to emotions
// (only the emotions allowed by Options.ReadoutEmotions). A NaN or
// infinite value is counted in NonFinite instead: one would poison the
// histogram's sum for the life of the process.
func (m *Metrics) ObserveReadout(emotions []string, values []float32) {
	for i, e := range emotions {
		if i >= len(values) {
			break
		}
		v := float64(values[i])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			m.NonFinite.Inc()
			continue
		}
		if o := m.observer(e); o != nil {
			o.Observe(v)
		}
	}
}

func (m *Metrics) observer(e string) prometheus.Observer {
	if m.allowed != nil && !m.allowed[e] {
		return nil
	}
	m.mu.RLock()
	o := m.readout[e]
	m.mu.RUnlock()
	if o != nil {
		return o
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if o = m.readout[e]; o == nil {
		o = m.Readout.WithLabelValues(e)
		m.readout[e] = o
	}
	return o
}

// ObserveAlert counts an alert event (state: the event kind).
func (m *Metrics) ObserveAlert(rule, state string) { m.Alerts.WithLabelValues(rule, state).Inc() }

// ObserveDelivery counts a webhook delivery's result (Delivered, Failed or
// Abandoned).
func (m *Metrics) ObserveDelivery(result string) { m.Deliveries.WithLabelValues(result).Inc() }

// ObserveStoreError counts a failed database write (op: "trace", "alert", ...).
func (m *Metrics) ObserveStoreError(op string) { m.StoreErrors.WithLabelValues(op).Inc() }
