package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; migrations[i] brings the schema to
// version i+1. Never edit one that has shipped: append.
var migrations = []string{
	// 1: conversations, trace, alerts
	`CREATE TABLE conversations (
		id               TEXT PRIMARY KEY,
		created          INTEGER NOT NULL, -- unix ms
		updated          INTEGER NOT NULL, -- unix ms, last write (retention)
		model            TEXT NOT NULL DEFAULT '',
		request          TEXT NOT NULL DEFAULT '{}', -- JSON
		emotions         TEXT NOT NULL DEFAULT '[]', -- JSON list: the trace values' order
		layer            INTEGER NOT NULL DEFAULT -1,
		metric           TEXT NOT NULL DEFAULT '',
		stride           INTEGER NOT NULL DEFAULT 1,
		status           TEXT NOT NULL,
		finish_reason    TEXT NOT NULL DEFAULT '',
		prompt_tokens    INTEGER NOT NULL DEFAULT 0,
		generated_tokens INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX conversations_updated ON conversations(updated);
	CREATE INDEX conversations_created ON conversations(created);
	CREATE TABLE trace (
		conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
		pos             INTEGER NOT NULL,
		token_id        INTEGER NOT NULL,
		text            TEXT NOT NULL,
		generated       INTEGER NOT NULL,
		vals            BLOB NOT NULL, -- float32 little-endian, parallel to conversations.emotions
		PRIMARY KEY (conversation_id, pos)
	) WITHOUT ROWID;
	CREATE TABLE alerts (
		id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: idempotency keys derive from it
		conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
		rule            TEXT NOT NULL,
		state           TEXT NOT NULL,
		pos             INTEGER NOT NULL,
		value           REAL NOT NULL,
		threshold       REAL NOT NULL,
		created         INTEGER NOT NULL, -- unix ms
		severity        TEXT NOT NULL DEFAULT '',
		action          TEXT NOT NULL DEFAULT '',
		detail          TEXT NOT NULL DEFAULT '{}', -- the event as JSON
		delivery        TEXT NOT NULL DEFAULT 'none',
		attempts        INTEGER NOT NULL DEFAULT 0,
		delivered_at    INTEGER NOT NULL DEFAULT 0,
		delivery_error  TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX alerts_created ON alerts(created);
	CREATE INDEX alerts_conversation ON alerts(conversation_id, id);
	CREATE INDEX alerts_rule ON alerts(rule, id);
	CREATE INDEX alerts_delivery ON alerts(delivery) WHERE delivery = 'pending';`,
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("store: %s has schema version %d, newer than this build's %d", s.path, v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("store: migration %d: %w", i+1, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, i+1, ms(s.now())); err != nil {
				return fmt.Errorf("store: migration %d: %w", i+1, err)
			}
		}
		return nil
	})
}

// Version returns the database's schema version.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
