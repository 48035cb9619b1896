package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// ErrNotFound is returned for an unknown conversation.
var ErrNotFound = errors.New("store: not found")

// Conversation statuses.
const (
	StatusRunning     = "running"
	StatusDone        = "done"
	StatusError       = "error"
	StatusInterrupted = "interrupted" // was running when the process died (MarkInterrupted)
)

// Delivery statuses of an alert.
const (
	DeliveryNone      = "none"      // no webhook
	DeliveryPending   = "pending"   // webhook not (yet) acknowledged
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryFailed    = "failed"    // retries exhausted
)

// Options configure Open.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock (default 5s).
	BusyTimeout time.Duration
	// ReadConns is the size of the read-only connection pool (default 4).
	ReadConns int
	// Now is the clock for created/updated times (default time.Now).
	Now func() time.Time
}

// Store is the server's database. All methods are safe for concurrent use.
type Store struct {
	w    *sql.DB // the single writer connection
	r    *sql.DB // read-only connections
	now  func() time.Time
	path string
}

// Open opens (creating it if needed) the database at path and migrates its
// schema. path must name a file: WAL mode needs one.
func Open(path string, o Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: path %q: want a plain file path", path)
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", o.BusyTimeout.Milliseconds())
	// The writer: WAL, and synchronous=FULL so that a COMMIT returns only
	// after the WAL is fsynced; BEGIN IMMEDIATE takes the write lock up front.
	w, err := sql.Open("sqlite", path+"?"+busy+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, now: o.Now, path: path}
	ctx := context.Background()
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("store: %s: journal mode is %q, want wal (a file system without shared memory?)", path, mode)
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", path+"?"+busy+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	r.SetMaxOpenConns(o.ReadConns)
	r.SetMaxIdleConns(o.ReadConns)
	s.r = r
	return s, nil
}

// Close closes the database (checkpointing the WAL into it).
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// tx runs fn in a write transaction (BEGIN IMMEDIATE ... COMMIT). When tx
// returns nil, the transaction is committed and, with synchronous=FULL, on
// disk.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// Conversation is one chat completion (request and outcome).
type Conversation struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Model   string    `json:"model"`
	// Request is the request as JSON (messages, steer, readout settings).
	Request json.RawMessage `json:"request,omitempty"`
	// Emotions, Layer and Metric describe the trace values: Point.Values[i]
	// is Emotions[i]'s Metric (z, proj or cos) at Layer.
	Emotions        []string `json:"emotions"`
	Layer           int      `json:"layer"`
	Metric          string   `json:"metric"`
	Stride          int      `json:"stride"` // trace stride (1: every token)
	Status          string   `json:"status"`
	FinishReason    string   `json:"finish_reason,omitempty"`
	PromptTokens    int      `json:"prompt_tokens"`
	GeneratedTokens int      `json:"generated_tokens"`
}

// Point is one traced token.
type Point struct {
	ConversationID string    `json:"-"`
	Pos            int       `json:"pos"`
	TokenID        int       `json:"token_id"`
	Text           string    `json:"text"`
	Generated      bool      `json:"generated"`
	Values         []float32 `json:"values"` // parallel to the conversation's Emotions; empty when not read or not stored
}

// Alert is one stored alert event.
type Alert struct {
	ID             int64     `json:"id"`
	ConversationID string    `json:"conversation_id"`
	Rule           string    `json:"rule"`
	State          string    `json:"state"` // the event kind: pending, firing, renewed, resolved, ...
	Pos            int       `json:"pos"`
	Value          float64   `json:"value"`
	Threshold      float64   `json:"threshold"`
	Time           time.Time `json:"time"`
	Severity       string    `json:"severity,omitempty"`
	Action         string    `json:"action"`
	// Detail is the full event as JSON (labels, window, regulation, ...).
	Detail        json.RawMessage `json:"detail,omitempty"`
	Delivery      string          `json:"delivery"` // none, pending, delivered, failed
	Attempts      int             `json:"attempts"`
	DeliveredAt   time.Time       `json:"delivered_at,omitzero"`
	DeliveryError string          `json:"delivery_error,omitempty"`
}

// CreateConversation stores a new conversation (status running unless set;
// Created and Updated default to now).
func (s *Store) CreateConversation(ctx context.Context, c Conversation) error {
	if c.ID == "" {
		return errors.New("store: conversation without id")
	}
	now := s.now()
	if c.Created.IsZero() {
		c.Created = now
	}
	if c.Updated.IsZero() {
		c.Updated = c.Created
	}
	if c.Status == "" {
		c.Status = StatusRunning
	}
	if c.Stride <= 0 {
		c.Stride = 1
	}
	req := c.Request
	if len(req) == 0 {
		req = json.RawMessage("{}")
	} else if !json.Valid(req) {
		return fmt.Errorf("store: conversation %s: request is not valid JSON", c.ID)
	}
	emo, _ := json.Marshal(c.Emotions)
	if c.Emotions == nil {
		emo = []byte("[]")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO conversations
			(id, created, updated, model, request, emotions, layer, metric, stride, status, finish_reason, prompt_tokens, generated_tokens)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, ms(c.Created), ms(c.Updated), c.Model, string(req), string(emo), c.Layer, c.Metric, c.Stride,
			c.Status, c.FinishReason, c.PromptTokens, c.GeneratedTokens)
		if err != nil {
			return fmt.Errorf("store: create conversation %s: %w", c.ID, err)
		}
		return nil
	})
}

// Finish is a conversation's outcome.
type Finish struct {
	Status          string // default done
	FinishReason    string // stop, length, alert, error, ...
	PromptTokens    int
	GeneratedTokens int
}

// FinishConversation records a conversation's outcome.
func (s *Store) FinishConversation(ctx context.Context, id string, f Finish) error {
	if f.Status == "" {
		f.Status = StatusDone
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET status = ?, finish_reason = ?, prompt_tokens = ?, generated_tokens = ?, updated = ? WHERE id = ?`,
			f.Status, f.FinishReason, f.PromptTokens, f.GeneratedTokens, ms(s.now()), id)
		if err != nil {
			return fmt.Errorf("store: finish conversation %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: finish conversation %s: %w", id, ErrNotFound)
		}
		return nil
	})
}

// MarkInterrupted sets the conversations still marked running (left by a
// process that died) to interrupted. Call it at startup, before serving.
func (s *Store) MarkInterrupted(ctx context.Context) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET status = ?, finish_reason = COALESCE(NULLIF(finish_reason, ''), 'interrupted') WHERE status = ?`, StatusInterrupted, StatusRunning)
		if err != nil {
			return fmt.Errorf("store: mark interrupted: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// AppendTrace stores trace points, of one or several conversations, in one
// transaction (a point at an existing position replaces it). Which tokens to
// trace (the stride) is the caller's choice.
func (s *Store) AppendTrace(ctx context.Context, pts []Point) error {
	if len(pts) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO trace (conversation_id, pos, token_id, text, generated, vals) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("store: append trace: %w", err)
		}
		defer st.Close()
		touched := map[string]bool{}
		for _, p := range pts {
			if _, err := st.ExecContext(ctx, p.ConversationID, p.Pos, p.TokenID, p.Text, p.Generated, encodeValues(p.Values)); err != nil {
				return fmt.Errorf("store: append trace %s@%d: %w", p.ConversationID, p.Pos, err)
			}
			touched[p.ConversationID] = true
		}
		now := ms(s.now())
		for id := range touched {
			if _, err := tx.ExecContext(ctx, `UPDATE conversations SET updated = ? WHERE id = ?`, now, id); err != nil {
				return fmt.Errorf("store: append trace: %w", err)
			}
		}
		return nil
	})
}

// encodeValues packs float32s little-endian.
func encodeValues(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decodeValues(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// InsertAlert stores an alert and returns its id once the row is durable
// (committed and fsynced): only then may the server acknowledge the alert
// (stream it, return it, deliver it). Time defaults to now, Delivery to none.
func (s *Store) InsertAlert(ctx context.Context, a Alert) (int64, error) {
	ids, err := s.InsertAlerts(ctx, []Alert{a})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// InsertAlerts stores several alerts in one transaction (one fsync), with
// InsertAlert's guarantee, and returns their ids in order.
func (s *Store) InsertAlerts(ctx context.Context, as []Alert) ([]int64, error) {
	ids := make([]int64, len(as))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, a := range as {
			if a.Time.IsZero() {
				a.Time = s.now()
			}
			if a.Delivery == "" {
				a.Delivery = DeliveryNone
			}
			detail := a.Detail
			if len(detail) == 0 {
				detail = json.RawMessage("{}")
			} else if !json.Valid(detail) {
				return fmt.Errorf("store: alert %s@%d: detail is not valid JSON", a.Rule, a.Pos)
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO alerts
				(conversation_id, rule, state, pos, value, threshold, created, severity, action, detail, delivery, attempts, delivered_at, delivery_error)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.ConversationID, a.Rule, a.State, a.Pos, finite(a.Value), finite(a.Threshold), ms(a.Time), a.Severity, a.Action,
				string(detail), a.Delivery, a.Attempts, ms(a.DeliveredAt), a.DeliveryError)
			if err != nil {
				return fmt.Errorf("store: insert alert %s@%d of %s: %w", a.Rule, a.Pos, a.ConversationID, err)
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return fmt.Errorf("store: insert alert: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// finite maps NaN to 0 and ±Inf to ±MaxFloat64: SQLite would store NaN as
// NULL, and JSON cannot carry either.
func finite(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case math.IsInf(v, 1):
		return math.MaxFloat64
	case math.IsInf(v, -1):
		return -math.MaxFloat64
	}
	return v
}

// MarkDelivered records a webhook delivery's outcome: status delivered (the
// receiver answered 2xx) or failed, after attempts attempts.
func (s *Store) MarkDelivered(ctx context.Context, id int64, attempts int, status string, deliveryErr string) error {
	switch status {
	case DeliveryDelivered, DeliveryFailed, DeliveryPending:
	default:
		return fmt.Errorf("store: delivery status %q (want delivered, failed or pending)", status)
	}
	var at int64
	if status == DeliveryDelivered {
		at = ms(s.now())
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET delivery = ?, attempts = attempts + ?, delivered_at = ?, delivery_error = ? WHERE id = ?`,
			status, attempts, at, deliveryErr, id)
		if err != nil {
			return fmt.Errorf("store: mark alert %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: mark alert %d: %w", id, ErrNotFound)
		}
		return nil
	})
}
