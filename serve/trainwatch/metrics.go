package trainwatch

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the watcher's Prometheus metrics, in a registry of their own.
type Metrics struct {
	reg        *prometheus.Registry
	evaluated  prometheus.Counter
	torn       prometheus.Counter
	step       prometheus.Gauge
	seconds    prometheus.Gauge
	loss       prometheus.Gauge
	z, dz, cos *prometheus.GaugeVec
	alerts     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

// NewMetrics registers the watcher's metrics.
func NewMetrics() *Metrics {
	const ns = "limbic_watch_"
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.evaluated = prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "checkpoints_evaluated_total", Help: "Checkpoints evaluated and recorded (including those recorded by earlier runs, counted at start)."})
	m.torn = prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "torn_reads_total", Help: "Checkpoint reads that failed or saw files change; retried, not recorded."})
	m.step = prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "last_step", Help: "Step of the last checkpoint recorded."})
	m.seconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "eval_seconds", Help: "Time the last checkpoint's evaluation took, loading included."})
	m.loss = prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "heldout_loss", Help: "Mean cross entropy (nats) on the held-out file at the last checkpoint."})
	m.z = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "z", Help: "Mean z-score over the probes at the main layer, last checkpoint."}, []string{"emotion"})
	m.dz = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "dz", Help: "Change of the mean z-score since the first checkpoint, last checkpoint."}, []string{"emotion"})
	m.cos = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "cos", Help: "Mean cosine over the probes at the main layer, last checkpoint."}, []string{"emotion"})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "alerts_total", Help: "Alert events stored, by rule and kind."}, []string{"rule", "kind"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "webhook_deliveries_total", Help: "Webhook deliveries by outcome."}, []string{"delivered"})
	m.reg.MustRegister(m.evaluated, m.torn, m.step, m.seconds, m.loss, m.z, m.dz, m.cos, m.alerts, m.deliveries)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is the metrics' registry (for tests and embedding).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) observe(r Record, alerts []Alert, main int) {
	m.evaluated.Inc()
	m.step.Set(float64(r.Step))
	m.seconds.Set(r.Seconds)
	if r.Loss != nil {
		m.loss.Set(*r.Loss)
	}
	if l, ok := r.Result.Layer(main); ok {
		for i, e := range l.Emotions {
			m.cos.WithLabelValues(e).Set(l.Cos[i])
			if l.Z != nil {
				m.z.WithLabelValues(e).Set(l.Z[i])
			}
		}
	}
	for _, d := range r.Delta {
		if d.Layer != main || d.Z == nil {
			continue
		}
		for i, e := range d.Emotions {
			m.dz.WithLabelValues(e).Set(d.Z[i])
		}
	}
	for _, a := range alerts {
		m.alerts.WithLabelValues(a.Event.Rule, string(a.Event.Kind)).Inc()
	}
}
