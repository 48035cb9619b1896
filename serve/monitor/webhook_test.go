package monitor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a loopback webhook that answers fail for the first failures
// requests, then 200, recording what it got.
type receiver struct {
	mu       sync.Mutex
	failures int
	fail     int           // status of the failing answers
	delay    time.Duration // sleep before failing answers
	keys     []string
	attempts []string
	bodies   [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
	rc.attempts = append(rc.attempts, r.Header.Get("X-Limbic-Attempt"))
	rc.bodies = append(rc.bodies, b)
	n := len(rc.keys)
	rc.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if n <= rc.failures {
		if rc.delay > 0 {
			select {
			case <-time.After(rc.delay):
			case <-r.Context().Done():
			}
		}
		http.Error(w, "try again", rc.fail)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.keys)
}

func fastNotifier() *Notifier {
	n := NewNotifier()
	n.InitialBackoff, n.MaxBackoff, n.Jitter, n.MaxElapsed = time.Millisecond, 4*time.Millisecond, 0, 10*time.Second
	return n
}

func TestNotifierRetries(t *testing.T) {
	for _, tc := range []struct {
		name          string
		failures      int
		fail          int
		delay         time.Duration
		retries       int
		wantDelivered bool
		wantAttempts  int
		wantStatus    int
	}{
		{"first try", 0, 503, 0, 3, true, 1, 204},
		{"fails twice then ok", 2, 503, 0, 3, true, 3, 204},
		{"429 is retried", 1, 429, 0, 3, true, 2, 204},
		{"retries exhausted", 10, 500, 0, 3, false, 4, 500},
		{"no retries", 1, 502, 0, 0, false, 1, 502},
		{"4xx is final", 5, 400, 0, 3, false, 1, 400},
		{"timeouts are retried", 2, 500, 2 * time.Second, 3, true, 3, 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{failures: tc.failures, fail: tc.fail, delay: tc.delay}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			d := Delivery{URL: srv.URL, Key: IdempotencyKey(42), Body: []byte(`{"id":42}`), Retries: tc.retries, Timeout: 250 * time.Millisecond}
			res := fastNotifier().Send(context.Background(), d)
			if res.Delivered != tc.wantDelivered || res.Attempts != tc.wantAttempts || res.Status != tc.wantStatus {
				t.Errorf("Send = delivered %v, %d attempts, status %d (err %v); want %v, %d, %d",
					res.Delivered, res.Attempts, res.Status, res.Err, tc.wantDelivered, tc.wantAttempts, tc.wantStatus)
			}
			if res.Delivered != (res.Err == nil) {
				t.Errorf("Delivered %v with error %v", res.Delivered, res.Err)
			}
			if got := rc.count(); got != tc.wantAttempts {
				t.Errorf("receiver got %d requests, want %d", got, tc.wantAttempts)
			}
			for i, k := range rc.keys {
				if k != "limbic-alert-42" {
					t.Errorf("request %d: Idempotency-Key %q, want limbic-alert-42", i, k)
				}
				if rc.attempts[i] != strconv.Itoa(i+1) {
					t.Errorf("request %d: X-Limbic-Attempt %q", i, rc.attempts[i])
				}
			}
		})
	}
}

func TestNotifierStopsOnShutdown(t *testing.T) {
	rc := &receiver{failures: 100, fail: 503}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := fastNotifier()
	n.InitialBackoff, n.MaxBackoff = time.Hour, time.Hour
	n.MaxElapsed = 0
	ctx, cancel := context.WithCancel(context.Background())
	var got Result
	n.Go(ctx, Delivery{URL: srv.URL, Body: []byte(`{}`), Retries: 5}, func(r Result) { got = r })
	for rc.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	done := make(chan struct{})
	go func() { n.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the context was cancelled")
	}
	if got.Delivered || !got.Abandoned || got.Attempts != 1 || !strings.Contains(got.Err.Error(), "context canceled") {
		t.Errorf("after shutdown: %+v", got)
	}
}

func TestNotifierMaxElapsed(t *testing.T) {
	rc := &receiver{failures: 100, fail: 503}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := fastNotifier()
	n.InitialBackoff, n.MaxBackoff, n.MaxElapsed = 200*time.Millisecond, 10*time.Second, 500*time.Millisecond
	res := n.Send(context.Background(), Delivery{URL: srv.URL, Body: []byte(`{}`), Retries: 10})
	// backoffs 200ms, 400ms: the second would end past 500ms
	if res.Delivered || res.Attempts != 2 || !strings.Contains(res.Err.Error(), "giving up") {
		t.Errorf("Send = %+v, want 2 attempts and a give-up error", res)
	}
}

func TestNotifierRetryAfter(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	n := fastNotifier()
	n.MaxBackoff = 30 * time.Millisecond // caps the 120s asked for
	res := n.Send(context.Background(), Delivery{URL: srv.URL, Body: []byte(`{}`), Retries: 1})
	if !res.Delivered || res.Elapsed < 30*time.Millisecond || res.Elapsed > 5*time.Second {
		t.Errorf("Send = %+v, want delivered after a capped Retry-After of 30ms", res)
	}
}

func TestNewDeliveryPayload(t *testing.T) {
	rules, err := ParseRules([]byte("- {name: hook, emotion: angry, op: '>', threshold: 2, action: {type: webhook, url: 'http://127.0.0.1:1/x', retries: 2, timeout: 3s}}"), "")
	if err != nil {
		t.Fatal(err)
	}
	p := Payload{ID: 7, ConversationID: "c1", Time: time.Unix(1700000000, 0).UTC(),
		Event: Event{Rule: "hook", Kind: EventFiring, Pos: 12, Value: 2.5, Threshold: 2, Action: Webhook}}
	d, err := NewDelivery(rules[0], p)
	if err != nil {
		t.Fatal(err)
	}
	if d.URL != "http://127.0.0.1:1/x" || d.Retries != 2 || d.Timeout != 3*time.Second || d.Key != "limbic-alert-7" {
		t.Errorf("NewDelivery = %+v", d)
	}
	var m map[string]any
	if err := json.Unmarshal(d.Body, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"id": 7.0, "conversation_id": "c1", "rule": "hook", "kind": "firing", "pos": 12.0, "value": 2.5} {
		if m[k] != want {
			t.Errorf("payload[%s] = %v, want %v", k, m[k], want)
		}
	}
	if _, err := NewDelivery(Rule{Name: "r", Action: Action{Type: Record}}, p); err == nil {
		t.Error("NewDelivery accepted a record rule")
	}
}
