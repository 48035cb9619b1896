package retry

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestDelayGrowth(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	for _, tc := range []struct {
		k    int
		want time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{200, time.Second},
	} {
		if got := p.Delay(tc.k, 0); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.k, got, tc.want)
		}
	}
	// No cap: doubling saturates instead of overflowing.
	if got := (Policy{Initial: time.Second}).Delay(100, 0); !(got > 0) {
		t.Errorf("uncapped Delay(100) = %v, want positive", got)
	}
}

func TestDelayJitterBounds(t *testing.T) {
	base := 400 * time.Millisecond
	for _, tc := range []struct {
		u    float64
		want time.Duration
	}{
		{0, 300 * time.Millisecond}, // 1 - 0.25
		{0.5, base},
		{0.999999, 500 * time.Millisecond}, // just under 1 + 0.25
	} {
		p := Policy{Initial: base, Max: time.Hour, Jitter: 0.25, Rand: func() float64 { return tc.u }}
		got := p.Delay(1, 0)
		if d := got - tc.want; !(d <= time.Microsecond && d >= -time.Microsecond) {
			t.Errorf("u=%v: Delay = %v, want %v", tc.u, got, tc.want)
		}
	}
	// With the real source every delay stays inside the band, and they differ.
	p := Policy{Initial: base, Max: time.Hour, Jitter: 0.25}
	seen := map[time.Duration]bool{}
	for range 200 {
		got := p.Delay(1, 0)
		if !(got >= 300*time.Millisecond && got <= 500*time.Millisecond) {
			t.Fatalf("Delay = %v, want within [300ms, 500ms]", got)
		}
		seen[got] = true
	}
	if got := len(seen); !(got > 1) {
		t.Errorf("%d distinct jittered delays in 200, want more than 1", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, header string
		want         time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"padded", " 3 ", 3 * time.Second},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"rfc850 date", now.Add(time.Hour).Format(time.RFC850), time.Hour},
		{"past date", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"garbage", "soon", 0},
		{"absent", "", 0},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Retry-After", tc.header)
		}
		if got := RetryAfter(h, now); got != tc.want {
			t.Errorf("%s: RetryAfter(%q) = %v, want %v", tc.name, tc.header, got, tc.want)
		}
	}
}

func TestDelayHonoursRetryAfter(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: 10 * time.Second, Jitter: 0.5}
	if got, want := p.Delay(1, 3*time.Second), 3*time.Second; got != want {
		t.Errorf("Delay with Retry-After 3s = %v, want %v (no jitter, no backoff)", got, want)
	}
	if got, want := p.Delay(1, time.Hour), 10*time.Second; got != want {
		t.Errorf("Delay with Retry-After 1h = %v, want the cap %v", got, want)
	}
}

// recorder is a Sleep that records the delays and never waits.
type recorder struct{ delays []time.Duration }

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.delays = append(r.delays, d)
	return ctx.Err()
}

func TestDo(t *testing.T) {
	errTransient := errors.New("503")
	errBad := errors.New("400")
	for _, tc := range []struct {
		name         string
		retries      int
		fails        int   // attempts that fail before success
		failWith     error // the error of a failing attempt
		wantAttempts int
		wantErr      error
		wantDelays   []time.Duration
	}{
		{"first try", 3, 0, errTransient, 1, nil, nil},
		{"retried", 3, 2, errTransient, 3, nil, []time.Duration{time.Second, 2 * time.Second}},
		{"exhausted", 2, 10, errTransient, 3, errTransient, []time.Duration{time.Second, 2 * time.Second}},
		{"permanent", 5, 10, Permanent(errBad), 1, errBad, nil},
		{"retry-after", 1, 1, After(errTransient, 5*time.Second), 2, nil, []time.Duration{5 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := Policy{Initial: time.Second, Max: time.Minute, Retries: tc.retries, Sleep: rec.sleep}
			n, err := p.Do(context.Background(), func(attempt int) error {
				if attempt <= tc.fails {
					return tc.failWith
				}
				return nil
			})
			if n != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", n, tc.wantAttempts)
			}
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if got, want := len(rec.delays), len(tc.wantDelays); got != want {
				t.Fatalf("delays %v, want %v", rec.delays, tc.wantDelays)
			}
			for i := range rec.delays {
				if rec.delays[i] != tc.wantDelays[i] {
					t.Errorf("delay %d = %v, want %v", i, rec.delays[i], tc.wantDelays[i])
				}
			}
		})
	}
}

func TestDoMaxElapsed(t *testing.T) {
	errTransient := errors.New("503")
	// Real sleeps of 50ms and 100ms; the third (200ms) would end about
	// 350ms after the start, past 250ms.
	p := Policy{Initial: 50 * time.Millisecond, Max: time.Minute, Retries: 10, MaxElapsed: 250 * time.Millisecond}
	start := time.Now()
	n, err := p.Do(context.Background(), func(int) error { return errTransient })
	elapsed := time.Since(start)
	if got, want := n, 3; got != want {
		t.Errorf("attempts = %d, want %d", got, want)
	}
	if !errors.Is(err, errTransient) {
		t.Errorf("err = %v, want it to wrap %v", err, errTransient)
	}
	if !(elapsed <= 250*time.Millisecond) {
		t.Errorf("Do took %v, want at most MaxElapsed 250ms", elapsed)
	}
}

func TestDoContextCancel(t *testing.T) {
	errTransient := errors.New("503")
	ctx, cancel := context.WithCancel(context.Background())
	p := Policy{Initial: time.Hour, Max: time.Hour, Retries: 5} // the real timer
	done := make(chan struct{})
	var n int
	var err error
	go func() {
		defer close(done)
		n, err = p.Do(ctx, func(int) error { return errTransient })
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Do did not return after its context was cancelled")
	}
	if got, want := n, 1; got != want {
		t.Errorf("attempts = %d, want %d", got, want)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) {
		t.Errorf("err = %v, want it to wrap both context.Canceled and %v", err, errTransient)
	}
}
