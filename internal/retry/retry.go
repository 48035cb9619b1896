package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy describes when to retry. The zero value never retries.
type Policy struct {
	Initial time.Duration // delay before the first retry
	Max     time.Duration // cap on one delay and on a server's Retry-After; 0: no cap
	Jitter  float64       // each delay is scaled by a uniform factor in [1-Jitter, 1+Jitter]; 0..1
	Retries int           // retries after the first try (Do only)
	// MaxElapsed, when positive, bounds Do: no retry starts whose delay
	// would end more than MaxElapsed after Do began.
	MaxElapsed time.Duration

	// Rand returns a uniform number in [0, 1) for the jitter; nil: math/rand/v2.
	Rand func() float64
	// Sleep waits d or until ctx ends; nil: a timer. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Delay is the wait before retry k (1-based). A positive retryAfter (the
// server's Retry-After) replaces the backoff; both are capped at Max.
func (p Policy) Delay(k int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		if p.Max > 0 {
			return min(retryAfter, p.Max)
		}
		return retryAfter
	}
	d := max(p.Initial, 0)
	for i := 1; i < k && d > 0; i++ {
		if p.Max > 0 && d >= p.Max {
			break
		}
		if d > math.MaxInt64/2 { // doubling would overflow
			break
		}
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	if j := min(max(p.Jitter, 0), 1); j > 0 && d > 0 {
		r := p.Rand
		if r == nil {
			r = rand.Float64
		}
		d = time.Duration(float64(d) * (1 + j*(2*r()-1)))
	}
	return d
}

// Wait sleeps the delay before retry k, or until ctx ends, whose error it
// then returns.
func (p Policy) Wait(ctx context.Context, k int, retryAfter time.Duration) error {
	return p.sleep(ctx, p.Delay(k, retryAfter))
}

// SleepFor sleeps d (a delay from Delay, say, after reporting it), or until
// ctx ends, whose error it then returns.
func (p Policy) SleepFor(ctx context.Context, d time.Duration) error { return p.sleep(ctx, d) }

func (p Policy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do calls op, with attempt counting from 1, until it returns nil or a
// Permanent error, the retries or MaxElapsed run out, or ctx ends. It
// returns the number of attempts and op's last error (a Permanent one
// unwrapped), annotated with why it stopped retrying; when ctx ended, the
// error also wraps ctx.Err(). An error made by After carries the server's
// Retry-After.
func (p Policy) Do(ctx context.Context, op func(attempt int) error) (attempts int, err error) {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return attempt, nil
		}
		var perm *permanent
		if errors.As(err, &perm) {
			return attempt, perm.err
		}
		if cerr := ctx.Err(); cerr != nil {
			return attempt, stopped(err, cerr)
		}
		if attempt > p.Retries {
			if p.Retries > 0 {
				return attempt, fmt.Errorf("%w (gave up after %d retries)", err, p.Retries)
			}
			return attempt, err
		}
		var ra *after
		var wait time.Duration
		if errors.As(err, &ra) {
			wait = p.Delay(attempt, ra.d)
		} else {
			wait = p.Delay(attempt, 0)
		}
		if p.MaxElapsed > 0 && time.Since(start)+wait > p.MaxElapsed {
			return attempt, fmt.Errorf("%w (giving up: retrying would exceed %v)", err, p.MaxElapsed)
		}
		if serr := p.sleep(ctx, wait); serr != nil {
			return attempt, stopped(err, serr)
		}
	}
}

func stopped(err, cause error) error {
	if errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w (stopped: %w)", err, cause)
}

type permanent struct{ err error }

func (e *permanent) Error() string { return e.err.Error() }
func (e *permanent) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: Do returns it at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

type after struct {
	err error
	d   time.Duration
}

func (e *after) Error() string { return e.err.Error() }
func (e *after) Unwrap() error { return e.err }

// After marks err as retryable after d, the server's Retry-After; d <= 0
// leaves the policy's backoff in charge.
func After(err error, d time.Duration) error {
	if err == nil || d <= 0 {
		return err
	}
	return &after{err, d}
}

// RetryAfter reads the Retry-After header of h, given in seconds or as an
// HTTP date (measured from now). It returns 0 when the header is absent,
// malformed or in the past.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > math.MaxInt64/int64(time.Second) {
			return math.MaxInt64
		}
		return time.Duration(s) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return max(t.Sub(now), 0)
}
