package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxLimit bounds the rows one query returns.
const MaxLimit = 10000

// AlertQuery filters Alerts. Zero fields do not filter.
type AlertQuery struct {
	Since          time.Time // created at or after
	AfterID        int64     // id > AfterID (polling for new alerts)
	BeforeID       int64     // id < BeforeID (paging back)
	ConversationID string
	Rule           string
	State          string
	Delivery       string // e.g. DeliveryPending, to resend after a restart
	Limit          int    // default 100, at most MaxLimit
}

// Alerts returns the matching alerts, newest (highest id) first.
func (s *Store) Alerts(ctx context.Context, q AlertQuery) ([]Alert, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if !q.Since.IsZero() {
		add("created >= ?", ms(q.Since))
	}
	if q.AfterID > 0 {
		add("id > ?", q.AfterID)
	}
	if q.BeforeID > 0 {
		add("id < ?", q.BeforeID)
	}
	if q.ConversationID != "" {
		add("conversation_id = ?", q.ConversationID)
	}
	if q.Rule != "" {
		add("rule = ?", q.Rule)
	}
	if q.State != "" {
		add("state = ?", q.State)
	}
	if q.Delivery != "" {
		add("delivery = ?", q.Delivery)
	}
	query := `SELECT ` + alertCols + ` FROM alerts`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit(q.Limit))
	return s.queryAlerts(ctx, query, args...)
}

func limit(n int) int {
	if n <= 0 {
		return 100
	}
	return min(n, MaxLimit)
}

const alertCols = `id, conversation_id, rule, state, pos, value, threshold, created, severity, action, detail, delivery, attempts, delivered_at, delivery_error`

type scanner interface{ Scan(...any) error }

func scanAlert(sc scanner) (Alert, error) {
	var a Alert
	var created, delivered int64
	var detail string
	err := sc.Scan(&a.ID, &a.ConversationID, &a.Rule, &a.State, &a.Pos, &a.Value, &a.Threshold, &created,
		&a.Severity, &a.Action, &detail, &a.Delivery, &a.Attempts, &delivered, &a.DeliveryError)
	a.Time, a.DeliveredAt, a.Detail = fromMS(created), fromMS(delivered), json.RawMessage(detail)
	return a, err
}

func (s *Store) queryAlerts(ctx context.Context, query string, args ...any) ([]Alert, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: alerts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	return out, nil
}

// Alert returns one alert by id.
func (s *Store) Alert(ctx context.Context, id int64) (*Alert, error) {
	as, err := s.queryAlerts(ctx, `SELECT `+alertCols+` FROM alerts WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("store: alert %d: %w", id, ErrNotFound)
	}
	return &as[0], nil
}

const convCols = `id, created, updated, model, request, emotions, layer, metric, stride, status, finish_reason, prompt_tokens, generated_tokens`

func scanConversation(sc scanner) (Conversation, error) {
	var c Conversation
	var created, updated int64
	var req, emo string
	err := sc.Scan(&c.ID, &created, &updated, &c.Model, &req, &emo, &c.Layer, &c.Metric, &c.Stride, &c.Status, &c.FinishReason, &c.PromptTokens, &c.GeneratedTokens)
	if err != nil {
		return c, err
	}
	c.Created, c.Updated, c.Request = fromMS(created), fromMS(updated), json.RawMessage(req)
	if err := json.Unmarshal([]byte(emo), &c.Emotions); err != nil {
		return c, fmt.Errorf("conversation %s: emotions: %w", c.ID, err)
	}
	return c, nil
}

// ConversationQuery filters Conversations.
type ConversationQuery struct {
	Since  time.Time // created at or after
	Status string
	Limit  int // default 100, at most MaxLimit
}

// Conversations lists conversations, newest first, without their traces.
func (s *Store) Conversations(ctx context.Context, q ConversationQuery) ([]Conversation, error) {
	query := `SELECT ` + convCols + ` FROM conversations WHERE created >= ?`
	args := []any{ms(q.Since)}
	if q.Status != "" {
		query += ` AND status = ?`
		args = append(args, q.Status)
	}
	query += ` ORDER BY created DESC, id DESC LIMIT ?`
	args = append(args, limit(q.Limit))
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	defer rows.Close()
	out := []Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: conversations: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	return out, nil
}

// ConversationDetail is a conversation with its trace (by position) and its
// alerts (by id).
type ConversationDetail struct {
	Conversation
	Trace  []Point `json:"trace"`
	Alerts []Alert `json:"alerts"`
}

// Conversation returns a conversation with its trace and alerts, read in one
// snapshot; ErrNotFound if there is none.
func (s *Store) Conversation(ctx context.Context, id string) (*ConversationDetail, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: conversation %s: %w", id, err)
	}
	defer tx.Rollback()
	c, err := scanConversation(tx.QueryRowContext(ctx, `SELECT `+convCols+` FROM conversations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: conversation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: conversation %s: %w", id, err)
	}
	d := &ConversationDetail{Conversation: c, Trace: []Point{}, Alerts: []Alert{}}
	rows, err := tx.QueryContext(ctx, `SELECT pos, token_id, text, generated, vals FROM trace WHERE conversation_id = ? ORDER BY pos`, id)
	if err != nil {
		return nil, fmt.Errorf("store: conversation %s: trace: %w", id, err)
	}
	for rows.Next() {
		p := Point{ConversationID: id}
		var vals []byte
		if err := rows.Scan(&p.Pos, &p.TokenID, &p.Text, &p.Generated, &vals); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: conversation %s: trace: %w", id, err)
		}
		p.Values = decodeValues(vals)
		d.Trace = append(d.Trace, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: conversation %s: trace: %w", id, err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT `+alertCols+` FROM alerts WHERE conversation_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: conversation %s: alerts: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: conversation %s: alerts: %w", id, err)
		}
		d.Alerts = append(d.Alerts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: conversation %s: alerts: %w", id, err)
	}
	return d, nil
}
