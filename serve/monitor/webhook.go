package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/limbic-dev/limbic/internal/retry"
)

// Payload is the JSON body POSTed to a webhook: the stored alert's id and
// conversation, and the event's fields.
type Payload struct {
	// ID is the alert's id in the store; the idempotency key derives from it.
	ID             int64     `json:"id"`
	ConversationID string    `json:"conversation_id"`
	Model          string    `json:"model,omitempty"`
	Time           time.Time `json:"time"`
	Event
}

// IdempotencyKey is the Idempotency-Key header value of an alert: the same
// for every attempt and every process that delivers it, so that a receiver
// can drop duplicates (delivery is at least once).
func IdempotencyKey(alertID int64) string { return "limbic-alert-" + strconv.FormatInt(alertID, 10) }

// Delivery is one webhook notification.
type Delivery struct {
	URL     string
	Key     string        // Idempotency-Key header
	Body    []byte        // JSON
	Retries int           // attempts after the first
	Timeout time.Duration // per attempt (0: DefaultWebhookTimeout)
}

// NewDelivery builds the delivery of p to rule's webhook.
func NewDelivery(rule Rule, p Payload) (Delivery, error) {
	if rule.Action.Type != Webhook {
		return Delivery{}, fmt.Errorf("monitor: rule %q has no webhook action", rule.Name)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Delivery{}, fmt.Errorf("monitor: alert %d: %w", p.ID, err)
	}
	return Delivery{URL: rule.Action.URL, Key: IdempotencyKey(p.ID), Body: body,
		Retries: rule.Action.Retries, Timeout: time.Duration(rule.Action.Timeout)}, nil
}

// Result is the outcome of a delivery.
type Result struct {
	// Delivered is true when the receiver answered 2xx: only then is the
	// alert acknowledged (store.MarkDelivered).
	Delivered bool
	// Abandoned is true when ctx ended first (shutdown): the alert stays
	// pending in the store, to be resent.
	Abandoned bool
	Attempts  int
	Status    int // last HTTP status; 0 when no response came
	Err       error
	Elapsed   time.Duration
}

// Notifier POSTs deliveries with retries and exponential backoff. The zero
// value is not usable: call NewNotifier, then adjust fields before use.
type Notifier struct {
	Client *http.Client
	// Backoff before retry k (1-based) is InitialBackoff·2^(k-1), at most
	// MaxBackoff, times a random factor in [1-Jitter, 1+Jitter]. A Retry-After
	// header (seconds or HTTP date) replaces it, capped at MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Jitter         float64
	// MaxElapsed bounds a delivery's total time: no retry starts whose
	// backoff would end past it.
	MaxElapsed time.Duration
	UserAgent  string

	wg sync.WaitGroup
}

// NewNotifier returns a notifier with the defaults: backoff 250ms doubling
// up to 8s with ±20% jitter, 1 minute in all.
func NewNotifier() *Notifier {
	return &Notifier{
		Client:         &http.Client{},
		InitialBackoff: 250 * time.Millisecond,
		MaxBackoff:     8 * time.Second,
		Jitter:         0.2,
		MaxElapsed:     time.Minute,
		UserAgent:      "limbic-monitor/1",
	}
}

// Send delivers d, retrying transport errors, timeouts, 408, 425, 429 and
// 5xx answers up to d.Retries times; other answers are final. It returns
// early, undelivered, when ctx ends (server shutdown).
func (n *Notifier) Send(ctx context.Context, d Delivery) Result {
	start := time.Now()
	var res Result
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	p := retry.Policy{
		Initial:    n.InitialBackoff,
		Max:        n.MaxBackoff,
		Jitter:     n.Jitter,
		Retries:    d.Retries,
		MaxElapsed: n.MaxElapsed,
	}
	attempts, err := p.Do(ctx, func(attempt int) error {
		status, retryAfter, err := n.attempt(ctx, d, attempt, timeout)
		res.Status = status
		switch {
		case err == nil:
			return nil
		case !retryable(status, err):
			return retry.Permanent(err)
		}
		return retry.After(err, retryAfter)
	})
	res.Attempts, res.Err, res.Delivered = attempts, err, err == nil
	res.Abandoned = err != nil && ctx.Err() != nil
	res.Elapsed = time.Since(start)
	return res
}

// Go runs Send in a goroutine and calls done with its result (done may be
// nil). Wait waits for every delivery started this way.
func (n *Notifier) Go(ctx context.Context, d Delivery, done func(Result)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		r := n.Send(ctx, d)
		if done != nil {
			done(r)
		}
	}()
}

// Wait waits for the deliveries started by Go.
func (n *Notifier) Wait() { n.wg.Wait() }

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("webhook answered %d", e.status)
	}
	return fmt.Sprintf("webhook answered %d: %s", e.status, e.body)
}

func (n *Notifier) attempt(ctx context.Context, d Delivery, attempt int, timeout time.Duration) (status int, retryAfter time.Duration, err error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.Key != "" {
		req.Header.Set("Idempotency-Key", d.Key)
	}
	req.Header.Set("X-Limbic-Attempt", strconv.Itoa(attempt))
	if n.UserAgent != "" {
		req.Header.Set("User-Agent", n.UserAgent)
	}
	client := n.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	return resp.StatusCode, retry.RetryAfter(resp.Header, time.Now()), &statusError{status: resp.StatusCode, body: string(bytes.TrimSpace(msg))}
}

func retryable(status int, err error) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return true // transport error or timeout
	}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return true
	case status >= 500:
		return true
	}
	return false
}
