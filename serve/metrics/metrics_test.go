package metrics

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return fams
}

// value returns the sample of family name whose labels include want
// (counter, gauge, or a histogram's count).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no %s sample with labels %v", name, want)
	return 0
}

func TestMetricsExposition(t *testing.T) {
	m := New(Options{ReadoutEmotions: []string{"calm", "desperate"}})
	chat := m.Instrument("/v1/chat/completions", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("bad") != "" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "data: x\n\n")
		w.(http.Flusher).Flush() // streaming must keep working through the wrapper
	}))
	for _, q := range []string{"", "", "?bad=1"} {
		rec := httptest.NewRecorder()
		chat.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/chat/completions"+q, nil))
		if q == "" && !rec.Flushed {
			t.Error("the instrumented writer did not flush")
		}
	}
	m.ObservePrefill(12)
	m.ObserveStep(4, 100*time.Millisecond) // 40 tok/s
	m.ObserveStep(4, 50*time.Millisecond)  // 80 tok/s: EWMA 40 + 0.2·40 = 48
	m.SetQueue(3, 4)
	m.ObserveReadout([]string{"calm", "desperate", "happy"}, []float32{-2.7, 3.2, 1})
	m.ObserveReadout([]string{"calm", "desperate"}, []float32{0.1, 0.2})
	m.ObserveAlert("desperate-high", "firing")
	m.ObserveAlert("desperate-high", "firing")
	m.ObserveAlert("calm-low", "pending")
	m.ObserveDelivery(Delivered)
	m.ObserveStoreError("alert")

	fams := scrape(t, m)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"limbic_requests_total", map[string]string{"endpoint": "/v1/chat/completions", "code": "200"}, 2},
		{"limbic_requests_total", map[string]string{"endpoint": "/v1/chat/completions", "code": "400"}, 1},
		{"limbic_request_duration_seconds", map[string]string{"endpoint": "/v1/chat/completions"}, 3},
		{"limbic_tokens_generated_total", nil, 8},
		{"limbic_prompt_tokens_total", nil, 12},
		{"limbic_decode_tokens_per_second", nil, 48},
		{"limbic_decode_step_seconds", nil, 2},
		{"limbic_queue_depth", nil, 3},
		{"limbic_active_sequences", nil, 4},
		{"limbic_readout", map[string]string{"emotion": "calm"}, 2},
		{"limbic_readout", map[string]string{"emotion": "desperate"}, 2},
		{"limbic_alerts_total", map[string]string{"rule": "desperate-high", "state": "firing"}, 2},
		{"limbic_alerts_total", map[string]string{"rule": "calm-low", "state": "pending"}, 1},
		{"limbic_webhook_deliveries_total", map[string]string{"result": "delivered"}, 1},
		{"limbic_webhook_deliveries_total", map[string]string{"result": "failed"}, 0},
		{"limbic_store_errors_total", map[string]string{"op": "alert"}, 1},
	} {
		if got := value(t, fams, tc.name, tc.labels); !(math.Abs(got-tc.want) <= 1e-9) {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	for _, m := range fams["limbic_readout"].Metric {
		for _, l := range m.Label {
			if l.GetValue() == "happy" {
				t.Error("readout of an emotion outside ReadoutEmotions was recorded")
			}
		}
	}
	// buckets: calm's -2.7 falls in le=-2.5 but not le=-3
	for _, mm := range fams["limbic_readout"].Metric {
		if mm.Label[0].GetValue() != "calm" {
			continue
		}
		for _, b := range mm.Histogram.Bucket {
			var want uint64
			switch {
			case b.GetUpperBound() >= 0.5:
				want = 2
			case b.GetUpperBound() >= -2.5:
				want = 1
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("calm bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}
	m.SetQueue(0, 0)
	if got := value(t, scrape(t, m), "limbic_decode_tokens_per_second", nil); got != 0 {
		t.Errorf("tokens/s when idle = %v, want 0", got)
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(Options{NoRuntime: true}), New(Options{NoRuntime: true})
	a.ObserveAlert("r", "firing")
	fams := scrape(t, b)
	if _, ok := fams["limbic_alerts_total"]; ok {
		t.Error("an alert counted in one Metrics shows in another")
	}
	if _, ok := fams["go_goroutines"]; ok {
		t.Error("NoRuntime still exports Go metrics")
	}
	if !strings.HasPrefix(fams["limbic_queue_depth"].GetHelp(), "Requests waiting") {
		t.Error("help text missing")
	}
}

// TestReadoutNonFinite: NaN and ±Inf readouts are counted apart and never
// reach the histogram, whose sum stays the sum of the finite values.
func TestReadoutNonFinite(t *testing.T) {
	m := New(Options{NoRuntime: true})
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	m.ObserveReadout([]string{"calm", "sad"}, []float32{1.5, nan})
	m.ObserveReadout([]string{"calm", "sad"}, []float32{inf, 2})
	m.ObserveReadout([]string{"calm"}, []float32{float32(math.Inf(-1))})
	fams := scrape(t, m)
	sums := map[string]float64{}
	counts := map[string]uint64{}
	for _, s := range fams["limbic_readout"].Metric {
		sums[s.Label[0].GetValue()] = s.Histogram.GetSampleSum()
		counts[s.Label[0].GetValue()] = s.Histogram.GetSampleCount()
	}
	for _, tt := range []struct {
		emotion string
		sum     float64
		count   uint64
	}{{"calm", 1.5, 1}, {"sad", 2, 1}} {
		if got := sums[tt.emotion]; !(math.Abs(got-tt.sum) <= 1e-9) || counts[tt.emotion] != tt.count {
			t.Errorf("%s: sum %v count %d, want %v and %d", tt.emotion, got, counts[tt.emotion], tt.sum, tt.count)
		}
	}
	if got, want := value(t, fams, "limbic_readout_nonfinite_total", nil), 3.0; got != want {
		t.Errorf("nonfinite count %v, want %v", got, want)
	}
}
