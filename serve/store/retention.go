package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Pruned counts what Prune deleted.
type Pruned struct {
	Conversations int64 // with their trace points and alerts
	Alerts        int64 // older alerts of conversations that were kept
}

// Prune deletes the conversations last written before before (their trace
// and alerts go with them) and the alerts created before before. The file
// does not shrink: SQLite reuses the freed pages.
func (s *Store) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	var p Pruned
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE updated < ?`, ms(before))
		if err != nil {
			return fmt.Errorf("store: prune conversations: %w", err)
		}
		p.Conversations, _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `DELETE FROM alerts WHERE created < ?`, ms(before))
		if err != nil {
			return fmt.Errorf("store: prune alerts: %w", err)
		}
		p.Alerts, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return Pruned{}, err
	}
	if p.Conversations > 0 || p.Alerts > 0 {
		// keep the WAL from growing after large deletes; best effort
		_, _ = s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return p, nil
}

// RunRetention prunes what is older than maxAge now and then every interval
// (default: maxAge/10, at least a minute) until ctx ends; report, if not
// nil, gets every result. Run it in its own goroutine.
func (s *Store) RunRetention(ctx context.Context, maxAge, interval time.Duration, report func(Pruned, error)) {
	if maxAge <= 0 {
		return
	}
	if interval <= 0 {
		interval = max(maxAge/10, time.Minute)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p, err := s.Prune(ctx, s.now().Add(-maxAge))
		if report != nil && ctx.Err() == nil {
			report(p, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
