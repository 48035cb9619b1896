package trainwatch

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver serve/store uses

	"github.com/limbic-dev/limbic/serve/monitor"
)

// DB is the watcher's state: evaluated checkpoints and alerts. Writes are
// transactions committed with synchronous=FULL (as in serve/store): when a
// Record call returns, the checkpoint and its alerts survive a crash.
type DB struct {
	db   *sql.DB
	path string
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
	step      INTEGER PRIMARY KEY,
	seq       INTEGER NOT NULL UNIQUE, -- evaluation order: seq 1 is the baseline
	dir       TEXT NOT NULL,
	kind      TEXT NOT NULL,
	evaluated INTEGER NOT NULL,         -- unix ms
	result    TEXT NOT NULL             -- Result as JSON
);
CREATE TABLE IF NOT EXISTS alerts (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	step           INTEGER NOT NULL,
	rule           TEXT NOT NULL,
	kind           TEXT NOT NULL,
	value          REAL NOT NULL,
	created        INTEGER NOT NULL,
	action         TEXT NOT NULL,
	detail         TEXT NOT NULL,       -- the monitor.Event as JSON
	delivery       TEXT NOT NULL,       -- none, pending, delivered, failed
	attempts       INTEGER NOT NULL DEFAULT 0,
	delivery_error TEXT NOT NULL DEFAULT '',
	UNIQUE (rule, step, kind)
);`

// Delivery states of an alert.
const (
	DeliveryNone      = "none"
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// OpenDB opens (creating it) the database at path.
func OpenDB(path string) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("trainwatch: database path %q: want a plain file path", path)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("trainwatch: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("trainwatch: open %s: %w", path, err)
	}
	return &DB{db: db, path: path}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Path is the database file.
func (d *DB) Path() string { return d.path }

// Claim binds the database to a fingerprint (Evaluator.Fingerprint): the
// first call stores it; later calls with another fingerprint fail, so one
// database never mixes two series.
func (d *DB) Claim(fingerprint, describe string) error {
	var have, desc string
	err := d.db.QueryRow(`SELECT value FROM meta WHERE key = 'fingerprint'`).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = d.db.Exec(`INSERT INTO meta (key, value) VALUES ('fingerprint', ?), ('settings', ?)`, fingerprint, describe)
		return err
	}
	if err != nil {
		return err
	}
	if have != fingerprint {
		_ = d.db.QueryRow(`SELECT value FROM meta WHERE key = 'settings'`).Scan(&desc)
		return fmt.Errorf("trainwatch: %s holds a series measured with other settings (%s; now %s): give another --db, or delete it to start over", d.path, desc, describe)
	}
	return nil
}

// Stored is a recorded checkpoint.
type Stored struct {
	Seq    int
	Result Result
}

// Results returns the recorded checkpoints in evaluation order.
func (d *DB) Results(ctx context.Context) ([]Stored, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, result FROM checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("trainwatch: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var s Stored
		var js string
		if err := rows.Scan(&s.Seq, &js); err != nil {
			return nil, fmt.Errorf("trainwatch: %w", err)
		}
		if err := json.Unmarshal([]byte(js), &s.Result); err != nil {
			return nil, fmt.Errorf("trainwatch: %s: checkpoint %d: %w", d.path, s.Seq, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Alert is a stored alert event.
type Alert struct {
	ID       int64         `json:"id"`
	Step     int           `json:"step"`
	Created  time.Time     `json:"created"`
	Delivery string        `json:"delivery"`
	Event    monitor.Event `json:"event"`
}

// Record stores a checkpoint's result and its alert events in one
// transaction and returns the alerts as stored (events already stored, by
// rule, step and kind, are skipped). A step already recorded is an error.
func (d *DB) Record(ctx context.Context, r Result, evs []monitor.Event) ([]Alert, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("trainwatch: step %d: %w", r.Step, err)
	}
	var out []Alert
	err = d.tx(ctx, func(tx *sql.Tx) error {
		var seq int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM checkpoints`).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (step, seq, dir, kind, evaluated, result) VALUES (?, ?, ?, ?, ?, ?)`,
			r.Step, seq, r.Dir, string(r.Kind), r.Time.UnixMilli(), string(js)); err != nil {
			return fmt.Errorf("step %d: %w", r.Step, err)
		}
		out, err = insertAlerts(ctx, tx, evs, r.Time)
		return err
	})
	return out, err
}

// AddAlerts stores alert events (skipping those already stored) and
// returns the new ones.
func (d *DB) AddAlerts(ctx context.Context, evs []monitor.Event, now time.Time) ([]Alert, error) {
	var out []Alert
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = insertAlerts(ctx, tx, evs, now)
		return err
	})
	return out, err
}

func insertAlerts(ctx context.Context, tx *sql.Tx, evs []monitor.Event, now time.Time) ([]Alert, error) {
	var out []Alert
	for _, ev := range evs {
		det, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		del := DeliveryNone
		if ev.Notify() {
			del = DeliveryPending
		}
		v := ev.Value
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0
		}
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO alerts (step, rule, kind, value, created, action, detail, delivery) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.Pos, ev.Rule, string(ev.Kind), v, now.UnixMilli(), string(ev.Action), string(det), del)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, err
		}
		out = append(out, Alert{ID: id, Step: ev.Pos, Created: time.UnixMilli(now.UnixMilli()), Delivery: del, Event: ev})
	}
	return out, nil
}

// Alerts returns the stored alerts in id order; pendingOnly lists only
// webhook deliveries not yet acknowledged.
func (d *DB) Alerts(ctx context.Context, pendingOnly bool) ([]Alert, error) {
	q := `SELECT id, step, created, delivery, detail FROM alerts`
	if pendingOnly {
		q += ` WHERE delivery = 'pending'`
	}
	rows, err := d.db.QueryContext(ctx, q+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("trainwatch: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var created int64
		var det string
		if err := rows.Scan(&a.ID, &a.Step, &created, &a.Delivery, &det); err != nil {
			return nil, fmt.Errorf("trainwatch: %w", err)
		}
		a.Created = time.UnixMilli(created)
		if err := json.Unmarshal([]byte(det), &a.Event); err != nil {
			return nil, fmt.Errorf("trainwatch: alert %d: %w", a.ID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// MarkDelivered records a webhook outcome: delivered (2xx) or failed
// (retries exhausted).
func (d *DB) MarkDelivered(ctx context.Context, id int64, delivered bool, attempts int, errText string) error {
	state := DeliveryFailed
	if delivered {
		state = DeliveryDelivered
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET delivery = ?, attempts = attempts + ?, delivery_error = ? WHERE id = ?`, state, attempts, errText, id)
		return err
	})
}

func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("trainwatch: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("trainwatch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("trainwatch: commit: %w", err)
	}
	return nil
}
