package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/limbic-dev/limbic/serve/metrics"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
)

// storeAlerts makes a session's alert events durable and returns them as the
// API reports them; only then may they be streamed or delivered. Webhook
// deliveries start here, after the commit.
func (s *Server) storeAlerts(ctx context.Context, ss *session, evs []monitor.Event) []Alert {
	if len(evs) == 0 {
		return nil
	}
	out := make([]Alert, len(evs))
	rows := make([]store.Alert, len(evs))
	now := time.Now()
	for i, e := range evs {
		out[i] = Alert{Rule: e.Rule, State: string(e.Kind), Pos: e.Pos, Value: e.Value, Threshold: e.Threshold, Action: string(e.Action)}
		if s.metrics != nil {
			s.metrics.ObserveAlert(e.Rule, string(e.Kind))
		}
		detail, err := json.Marshal(e)
		if err != nil {
			s.log.Error("encoding an alert's detail", "conversation", ss.id, "rule", e.Rule, "err", err)
		}
		rows[i] = store.Alert{ConversationID: ss.id, Rule: e.Rule, State: string(e.Kind), Pos: e.Pos, Value: e.Value,
			Threshold: e.Threshold, Time: now, Severity: e.Severity, Action: string(e.Action), Detail: detail}
		if e.Notify() {
			rows[i].Delivery = store.DeliveryPending
		}
	}
	if s.store == nil {
		return out
	}
	ids, err := s.store.InsertAlerts(ctx, rows)
	if err != nil {
		s.log.Error("storing alerts", "conversation", ss.id, "err", err)
		if s.metrics != nil {
			s.metrics.ObserveStoreError("insert_alerts")
		}
		return out
	}
	for i, e := range evs {
		out[i].ID = ids[i]
		if e.Notify() {
			s.deliver(ids[i], ss.id, now, e)
		}
	}
	return out
}

// deliver posts an alert to its rule's webhook in the background and
// records the outcome; an abandoned delivery (shutdown) stays pending and
// is resent at the next start.
func (s *Server) deliver(id int64, conv string, t time.Time, e monitor.Event) {
	rule, ok := s.rules.Rule(e.Rule)
	if !ok {
		return
	}
	d, err := monitor.NewDelivery(rule, monitor.Payload{ID: id, ConversationID: conv, Model: s.m.Name, Time: t, Event: e})
	if err != nil {
		s.log.Error("webhook payload", "alert", id, "err", err)
		return
	}
	s.notifier.Go(s.bg, d, func(r monitor.Result) {
		status, result := store.DeliveryFailed, metrics.Failed
		switch {
		case r.Delivered:
			status, result = store.DeliveryDelivered, metrics.Delivered
		case r.Abandoned:
			if s.metrics != nil {
				s.metrics.ObserveDelivery(metrics.Abandoned)
			}
			return
		}
		if s.metrics != nil {
			s.metrics.ObserveDelivery(result)
		}
		msg := ""
		if r.Err != nil {
			msg = r.Err.Error()
		}
		if err := s.store.MarkDelivered(context.Background(), id, r.Attempts, status, msg); err != nil {
			s.log.Error("recording a webhook delivery", "alert", id, "err", err)
		}
	})
}

// resendPending delivers the alerts a previous process stored but did not
// get acknowledged by their webhook.
func (s *Server) resendPending() {
	if s.rules == nil {
		return
	}
	pending, err := s.store.Alerts(context.Background(), store.AlertQuery{Delivery: store.DeliveryPending, Limit: store.MaxLimit})
	if err != nil {
		s.log.Error("reading pending alerts", "err", err)
		return
	}
	for _, a := range pending {
		var e monitor.Event
		if err := json.Unmarshal(a.Detail, &e); err != nil || e.Rule == "" {
			continue
		}
		if _, ok := s.rules.Rule(e.Rule); !ok {
			s.store.MarkDelivered(context.Background(), a.ID, 0, store.DeliveryFailed, "rule no longer configured")
			continue
		}
		s.deliver(a.ID, a.ConversationID, a.Time, e)
	}
}

func (s *Server) needStore(w http.ResponseWriter) bool {
	if s.store == nil {
		writeError(w, http.StatusNotFound, "not_found", "this server keeps no store (start it with --db)")
		return false
	}
	return true
}

// handleAlerts is GET /v1/limbic/alerts?after_id=&before_id=&since=&conversation_id=&rule=&state=&limit=
func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w) {
		return
	}
	q := r.URL.Query()
	var aq store.AlertQuery
	var err error
	num := func(name string) int64 {
		v := q.Get(name)
		if v == "" || err != nil {
			return 0
		}
		n, e := strconv.ParseInt(v, 10, 64)
		if e != nil || n < 0 {
			err = badRequest("%s %q: want a non-negative integer", name, v)
		}
		return n
	}
	aq.AfterID, aq.BeforeID, aq.Limit = num("after_id"), num("before_id"), int(num("limit"))
	if v := q.Get("since"); v != "" && err == nil {
		if aq.Since, err = time.Parse(time.RFC3339, v); err != nil {
			err = badRequest("since %q: want an RFC 3339 time", v)
		}
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	aq.ConversationID, aq.Rule, aq.State = q.Get("conversation_id"), q.Get("rule"), q.Get("state")
	alerts, err := s.store.Alerts(r.Context(), aq)
	if err != nil {
		writeErr(w, err)
		return
	}
	if alerts == nil {
		alerts = []store.Alert{}
	}
	s.reply(w, http.StatusOK, map[string]any{"object": "list", "data": alerts})
}

func (s *Server) handleConversations(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w) {
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	cs, err := s.store.Conversations(r.Context(), store.ConversationQuery{Status: r.URL.Query().Get("status"), Limit: limit})
	if err != nil {
		writeErr(w, err)
		return
	}
	if cs == nil {
		cs = []store.Conversation{}
	}
	s.reply(w, http.StatusOK, map[string]any{"object": "list", "data": cs})
}

func (s *Server) handleConversation(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w) {
		return
	}
	c, err := s.store.Conversation(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no conversation "+strconv.Quote(r.PathValue("id")))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	s.reply(w, http.StatusOK, c)
}

func (s *Server) handleRules(w http.ResponseWriter, r *http.Request) {
	var rules []monitor.Rule
	if s.rules != nil {
		rules = s.rules.Rules()
	}
	if rules == nil {
		rules = []monitor.Rule{}
	}
	s.reply(w, http.StatusOK, map[string]any{"object": "list", "data": rules})
}
