package monitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestNotifierRetryAfterDate checks that a Retry-After given as an HTTP date
// replaces the backoff: with a backoff of an hour the retry only fits in
// MaxElapsed if the date (about 2s ahead) is honoured.
func TestNotifierRetryAfterDate(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	n := fastNotifier()
	n.InitialBackoff, n.MaxBackoff, n.MaxElapsed = time.Hour, time.Hour, 10*time.Second
	res := n.Send(context.Background(), Delivery{URL: srv.URL, Body: []byte(`{}`), Retries: 1})
	if !res.Delivered {
		t.Fatalf("Send = %+v, want delivered after the Retry-After date", res)
	}
	if got, want := res.Attempts, 2; got != want {
		t.Errorf("attempts = %d, want %d", got, want)
	}
	if !(res.Elapsed >= 500*time.Millisecond) {
		t.Errorf("delivered after %v, want the retry to wait for the date (about 1-2s)", res.Elapsed)
	}
}
