package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func openTest(t *testing.T) (*Store, *clock) {
	t.Helper()
	c := &clock{t: t0}
	s, err := Open(filepath.Join(t.TempDir(), "limbic.db"), Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func TestPragmas(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM alerts`); err == nil {
		t.Error("the read pool can write")
	}
	if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
		t.Errorf("Version = %d, %v; want %d", v, err, SchemaVersion)
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := Open(p, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s, c := openTest(t)
	ctx := context.Background()
	conv := Conversation{ID: "c1", Model: "llama-3.2-1b", Request: json.RawMessage(`{"messages":[{"role":"user","content":"hi"}],"steer":"calm=0.1"}`),
		Emotions: []string{"calm", "desperate"}, Layer: 10, Metric: "z", Stride: 2}
	if err := s.CreateConversation(ctx, conv); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConversation(ctx, conv); err == nil {
		t.Error("CreateConversation accepted a duplicate id")
	}
	pts := []Point{
		{ConversationID: "c1", Pos: 0, TokenID: 1, Text: "<s>", Values: []float32{0, 0}},
		{ConversationID: "c1", Pos: 2, TokenID: 17, Text: " hi", Values: []float32{0.5, -1.25}},
		{ConversationID: "c1", Pos: 4, TokenID: 99, Text: "!", Generated: true, Values: []float32{-2, 3.5}},
	}
	if err := s.AppendTrace(ctx, pts[:2]); err != nil {
		t.Fatal(err)
	}
	c.set(t0.Add(time.Second))
	replaced := Point{ConversationID: "c1", Pos: 2, TokenID: 18, Text: " ho", Values: []float32{0.75, -1}}
	if err := s.AppendTrace(ctx, []Point{replaced, pts[2]}); err != nil {
		t.Fatal(err)
	}
	pts[1] = replaced
	if err := s.AppendTrace(ctx, []Point{{ConversationID: "nope", Pos: 0}}); err == nil {
		t.Error("AppendTrace accepted a point of an unknown conversation")
	}
	detail := json.RawMessage(`{"rule":"desperate-high","kind":"firing","regulation":{"from":5,"to":21}}`)
	id1, err := s.InsertAlert(ctx, Alert{ConversationID: "c1", Rule: "desperate-high", State: "firing", Pos: 4, Value: 3.5, Threshold: 3,
		Severity: "warning", Action: "webhook", Detail: detail, Delivery: DeliveryPending})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := s.InsertAlerts(ctx, []Alert{
		{ConversationID: "c1", Rule: "calm-low", State: "pending", Pos: 4, Value: -2, Threshold: -2.5},
		{ConversationID: "c1", Rule: "desperate-high", State: "resolved", Pos: 6, Value: 1.5, Threshold: 3},
	})
	if err != nil || len(ids) != 2 || ids[0] != id1+1 || ids[1] != id1+2 {
		t.Fatalf("InsertAlerts = %v, %v; want ids after %d", ids, err, id1)
	}
	if _, err := s.InsertAlert(ctx, Alert{ConversationID: "nope", Rule: "r", State: "firing"}); err == nil {
		t.Error("InsertAlert accepted an unknown conversation")
	}
	c.set(t0.Add(2 * time.Second))
	if err := s.MarkDelivered(ctx, id1, 3, DeliveryDelivered, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, 999, 1, DeliveryDelivered, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkDelivered(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.FinishConversation(ctx, "c1", Finish{FinishReason: "stop", PromptTokens: 3, GeneratedTokens: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishConversation(ctx, "nope", Finish{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("FinishConversation(unknown) = %v, want ErrNotFound", err)
	}

	d, err := s.Conversation(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	wantConv := conv
	wantConv.Created, wantConv.Updated = t0, t0.Add(2*time.Second)
	wantConv.Status, wantConv.FinishReason, wantConv.PromptTokens, wantConv.GeneratedTokens = StatusDone, "stop", 3, 2
	if !reflect.DeepEqual(d.Conversation, wantConv) {
		t.Errorf("conversation:\n got %+v\nwant %+v", d.Conversation, wantConv)
	}
	if !reflect.DeepEqual(d.Trace, pts) {
		t.Errorf("trace:\n got %+v\nwant %+v", d.Trace, pts)
	}
	if len(d.Alerts) != 3 || d.Alerts[0].ID != id1 {
		t.Fatalf("alerts: %+v", d.Alerts)
	}
	a := d.Alerts[0]
	want := Alert{ID: id1, ConversationID: "c1", Rule: "desperate-high", State: "firing", Pos: 4, Value: 3.5, Threshold: 3, Time: t0.Add(time.Second),
		Severity: "warning", Action: "webhook", Detail: detail, Delivery: DeliveryDelivered, Attempts: 3, DeliveredAt: t0.Add(2 * time.Second)}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("alert:\n got %+v\nwant %+v", a, want)
	}
	if d.Alerts[1].Delivery != DeliveryNone || string(d.Alerts[1].Detail) != "{}" {
		t.Errorf("defaults: delivery %q detail %s", d.Alerts[1].Delivery, d.Alerts[1].Detail)
	}
	if _, err := s.Conversation(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Conversation(unknown) = %v, want ErrNotFound", err)
	}
	if b, err := json.Marshal(d); err != nil || !json.Valid(b) {
		t.Errorf("ConversationDetail does not marshal: %v", err)
	}
}

func TestAlertsQuery(t *testing.T) {
	s, c := openTest(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateConversation(ctx, Conversation{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// ids 1..6: conversation a,b alternating, rules r0,r1,r2, one minute apart
	for i := range 6 {
		c.set(t0.Add(time.Duration(i) * time.Minute))
		del := DeliveryNone
		if i%3 == 0 {
			del = DeliveryPending
		}
		if _, err := s.InsertAlert(ctx, Alert{ConversationID: []string{"a", "b"}[i%2], Rule: fmt.Sprintf("r%d", i%3), State: "firing", Pos: i, Delivery: del}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		q    AlertQuery
		want []int64
	}{
		{"all, newest first", AlertQuery{}, []int64{6, 5, 4, 3, 2, 1}},
		{"limit", AlertQuery{Limit: 2}, []int64{6, 5}},
		{"conversation", AlertQuery{ConversationID: "a"}, []int64{5, 3, 1}},
		{"rule", AlertQuery{Rule: "r1"}, []int64{5, 2}},
		{"since", AlertQuery{Since: t0.Add(4 * time.Minute)}, []int64{6, 5}},
		{"after id", AlertQuery{AfterID: 4}, []int64{6, 5}},
		{"before id", AlertQuery{BeforeID: 3}, []int64{2, 1}},
		{"pending deliveries", AlertQuery{Delivery: DeliveryPending}, []int64{4, 1}},
		{"combined", AlertQuery{ConversationID: "b", Rule: "r0"}, []int64{4}},
		{"state", AlertQuery{State: "resolved"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as, err := s.Alerts(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, a := range as {
				got = append(got, a.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Alerts(%+v) ids = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	if a, err := s.Alert(ctx, 3); err != nil || a.Rule != "r2" {
		t.Errorf("Alert(3) = %+v, %v", a, err)
	}
	convs, err := s.Conversations(ctx, ConversationQuery{})
	if err != nil || len(convs) != 2 {
		t.Errorf("Conversations = %d, %v", len(convs), err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	const writers, perWriter = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("w%d", w)
			if err := s.CreateConversation(ctx, Conversation{ID: id, Emotions: []string{"calm"}}); err != nil {
				errs <- err
				return
			}
			for i := range perWriter {
				if err := s.AppendTrace(ctx, []Point{{ConversationID: id, Pos: i, Values: []float32{float32(i)}}}); err != nil {
					errs <- err
					return
				}
				if _, err := s.InsertAlert(ctx, Alert{ConversationID: id, Rule: "r", State: "firing", Pos: i}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// readers alongside
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 30 {
			if _, err := s.Alerts(ctx, AlertQuery{Limit: 10}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	as, err := s.Alerts(ctx, AlertQuery{Limit: MaxLimit})
	if err != nil || len(as) != writers*perWriter {
		t.Errorf("alerts = %d, %v; want %d", len(as), err, writers*perWriter)
	}
	seen := map[int64]bool{}
	for _, a := range as {
		if seen[a.ID] {
			t.Errorf("duplicate id %d", a.ID)
		}
		seen[a.ID] = true
	}
	d, err := s.Conversation(ctx, "w3")
	if err != nil || len(d.Trace) != perWriter || len(d.Alerts) != perWriter {
		t.Errorf("w3: %d points, %d alerts, %v", len(d.Trace), len(d.Alerts), err)
	}
}

func TestPrune(t *testing.T) {
	s, c := openTest(t)
	ctx := context.Background()
	// old: created and last written at t0; fresh: at t0+2h; mixed: created
	// at t0 with an old alert, written again at t0+2h
	for _, id := range []string{"old", "mixed"} {
		if err := s.CreateConversation(ctx, Conversation{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendTrace(ctx, []Point{{ConversationID: id, Pos: 0}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InsertAlert(ctx, Alert{ConversationID: id, Rule: "r", State: "firing"}); err != nil {
			t.Fatal(err)
		}
	}
	c.set(t0.Add(2 * time.Hour))
	if err := s.CreateConversation(ctx, Conversation{ID: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertAlert(ctx, Alert{ConversationID: "fresh", Rule: "r", State: "firing"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTrace(ctx, []Point{{ConversationID: "mixed", Pos: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertAlert(ctx, Alert{ConversationID: "mixed", Rule: "r", State: "resolved"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Prune(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p != (Pruned{Conversations: 1, Alerts: 1}) {
		t.Errorf("Prune = %+v, want 1 conversation (old) and 1 alert (mixed's first)", p)
	}
	if _, err := s.Conversation(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old conversation survived: %v", err)
	}
	var orphans int
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM trace WHERE conversation_id = 'old') + (SELECT COUNT(*) FROM alerts WHERE conversation_id = 'old')`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("old's trace and alerts: %d rows left, %v", orphans, err)
	}
	d, err := s.Conversation(ctx, "mixed")
	if err != nil || len(d.Trace) != 2 || len(d.Alerts) != 1 || d.Alerts[0].State != "resolved" {
		t.Errorf("mixed after prune: %+v, %v", d, err)
	}
	// a deleted id is never reused (AUTOINCREMENT), even the highest
	if _, err := s.w.ExecContext(ctx, `DELETE FROM alerts WHERE id = 4`); err != nil {
		t.Fatal(err)
	}
	id, err := s.InsertAlert(ctx, Alert{ConversationID: "fresh", Rule: "r", State: "firing"})
	if err != nil || id != 5 {
		t.Errorf("next alert id = %d, %v; want 5", id, err)
	}
}

func TestRunRetention(t *testing.T) {
	s, c := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.CreateConversation(ctx, Conversation{ID: "old"}); err != nil {
		t.Fatal(err)
	}
	c.set(t0.Add(48 * time.Hour))
	got := make(chan Pruned, 10)
	done := make(chan struct{})
	go func() {
		s.RunRetention(ctx, 24*time.Hour, time.Hour, func(p Pruned, err error) {
			if err != nil {
				t.Error(err)
			}
			got <- p
		})
		close(done)
	}()
	if p := <-got; p.Conversations != 1 {
		t.Errorf("first pass pruned %+v, want the old conversation", p)
	}
	cancel()
	<-done
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limbic.db")
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConversation(ctx, Conversation{ID: "c", Emotions: []string{"calm"}}); err != nil {
		t.Fatal(err)
	}
	id, err := s.InsertAlert(ctx, Alert{ConversationID: "c", Rule: "r", State: "firing", Delivery: DeliveryPending})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.MarkInterrupted(ctx); err != nil || n != 1 {
		t.Errorf("MarkInterrupted = %d, %v; want 1", n, err)
	}
	d, err := s.Conversation(ctx, "c")
	if err != nil || d.Status != StatusInterrupted || d.FinishReason != "interrupted" || len(d.Alerts) != 1 || d.Alerts[0].ID != id {
		t.Errorf("after reopen: %+v, %v", d, err)
	}
	if pend, err := s.Alerts(ctx, AlertQuery{Delivery: DeliveryPending}); err != nil || len(pend) != 1 {
		t.Errorf("pending deliveries after reopen: %v, %v", pend, err)
	}
	if v, _ := s.Version(ctx); v != SchemaVersion {
		t.Errorf("version after reopen %d, want %d", v, SchemaVersion)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limbic.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version, applied) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer build")
	}
}
