package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/serve/metrics"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
)

func rules(t testing.TB, y string) []monitor.Rule {
	t.Helper()
	r, err := monitor.ParseRules([]byte(y), "yaml")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "limbic.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestAlertsStoredStreamedAndServed: a rule that always holds fires after
// its for: tokens; the alert is in the stream, in the store, behind the
// alerts API, and the conversation's trace is stored.
func TestAlertsStoredStreamedAndServed(t *testing.T) {
	st := openStore(t)
	met := metrics.New(metrics.Options{NoRuntime: true})
	ts, _ := newTestServer(t, true, func(c *Config) {
		c.Rules = rules(t, `
- {name: happy-any, emotion: happy, op: ">", threshold: -1000, for: 2, layer: 3}
- {name: never, emotion: sad, op: ">", threshold: 1000}`)
		c.Store, c.Metrics = st, met
	})
	resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":10,"stream":true,"temperature":0}`))
	if err != nil {
		t.Fatal(err)
	}
	events := sse(t, resp.Body)
	resp.Body.Close()
	var streamed []Alert
	var convID string
	for _, e := range events[:len(events)-1] {
		var c ChatChunk
		json.Unmarshal([]byte(e), &c)
		if c.Limbic != nil {
			streamed = append(streamed, c.Limbic.Alerts...)
			if c.Limbic.ConversationID != "" {
				convID = c.Limbic.ConversationID
			}
		}
	}
	// for: 2 → pending at the first generated-scope position, firing two
	// tokens later; resolved ("ended") when the sequence ends.
	if len(streamed) != 3 || streamed[0].State != "pending" || streamed[1].State != "firing" || streamed[2].State != "resolved" {
		t.Fatalf("streamed alerts %+v", streamed)
	}
	if streamed[1].Pos != streamed[0].Pos+2 || streamed[1].ID == 0 {
		t.Errorf("firing %+v after pending %+v", streamed[1], streamed[0])
	}
	var list struct{ Data []store.Alert }
	getJSON(t, ts.URL+"/v1/limbic/alerts?rule=happy-any", &list)
	if len(list.Data) != 3 || list.Data[1].ID != streamed[1].ID || list.Data[1].State != "firing" {
		t.Errorf("alerts API %+v", list.Data)
	}
	var conv store.ConversationDetail
	getJSON(t, ts.URL+"/v1/limbic/conversations/"+convID, &conv)
	if conv.Status != store.StatusDone || len(conv.Alerts) != 3 || len(conv.Trace) < conv.PromptTokens || len(conv.Emotions) != 6 {
		t.Errorf("conversation: status %s, %d alerts, %d trace points, %d prompt tokens, emotions %v",
			conv.Status, len(conv.Alerts), len(conv.Trace), conv.PromptTokens, conv.Emotions)
	}
	// Metrics count the alerts by rule and state.
	mresp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`limbic_alerts_total{rule="happy-any",state="firing"} 1`, "limbic_tokens_generated_total", `limbic_readout_bucket{emotion="happy"`} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	resp404, _ := http.Get(ts.URL + "/v1/limbic/conversations/nope")
	if resp404.StatusCode != 404 {
		t.Errorf("unknown conversation: %d", resp404.StatusCode)
	}
}

func TestStopRule(t *testing.T) {
	ts, _ := newTestServer(t, true, func(c *Config) {
		c.Rules = rules(t, `- {name: halt, emotion: calm, op: ">", threshold: -1000, for: 3, action: {type: stop}}`)
	})
	resp, b := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"Go on"}],"max_tokens":30,"temperature":0}`)
	var r ChatResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	// Firing at the 4th generated-scope readout (the position the 4th token
	// is sampled from): that token is not emitted, 3 are.
	if r.Choices[0].FinishReason != "content_filter" || r.Limbic.StoppedBy != "halt" || r.Usage.CompletionTokens != 3 || len(r.Limbic.Tokens) != 3 {
		t.Errorf("finish %q stopped_by %q after %d tokens", r.Choices[0].FinishReason, r.Limbic.StoppedBy, r.Usage.CompletionTokens)
	}
}

// TestRegulateLowersSignal: a regulate rule counter-steers the signal it
// watches; the readout during the lease is lower than without the rule, and
// the alert records the effect.
func TestRegulateLowersSignal(t *testing.T) {
	body := `{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":20,"temperature":0,"limbic":{"readout":{"emotions":["happy"],"layer":3}}}`
	run := func(withRule bool) ChatResponse {
		ts, _ := newTestServer(t, true, func(c *Config) {
			if withRule {
				c.Rules = rules(t, `- {name: too-happy, emotion: happy, layer: 3, op: ">", threshold: -1000, action: {type: regulate, steer: "happy=-0.5@3", tokens: 4}}`)
			}
		})
		resp, b := post(t, ts.URL+"/v1/chat/completions", body)
		var r ChatResponse
		if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		return r
	}
	base, reg := run(false), run(true)
	var firing *Alert
	for i, a := range reg.Limbic.Alerts {
		if a.State == "firing" {
			firing = &reg.Limbic.Alerts[i]
			break
		}
	}
	if firing == nil {
		t.Fatalf("no firing alert: %+v", reg.Limbic.Alerts)
	}
	// The lease starts at the position after the one that fired. The token
	// at that position (sampled from the one before, which is not steered) is
	// the same with and without the rule at temperature 0, and its readout at
	// layer 3, where the counter-steer is added, is 0.5 · mean norm 8 = 4
	// lower in z (std 1).
	leased := firing.Pos + 1
	tokenAt := func(r ChatResponse, pos int) (TokenReadout, bool) {
		for _, tk := range r.Limbic.Tokens {
			if tk.Pos == pos {
				return tk, true
			}
		}
		return TokenReadout{}, false
	}
	in, ok1 := tokenAt(reg, leased-1)
	inBase, ok2 := tokenAt(base, leased-1)
	if !ok1 || !ok2 || in.Token != inBase.Token {
		t.Fatalf("token sampled from %d: %+v with the rule, %+v without (want the same token)", leased-1, in, inBase)
	}
	tk, ok1 := tokenAt(reg, leased)
	b, ok2 := tokenAt(base, leased)
	if !ok1 || !ok2 {
		t.Fatalf("no token readout from the first leased position %d: %+v", leased, reg.Limbic.Tokens)
	}
	if d := float64(tk.Scores["happy"] - b.Scores["happy"]); !(d >= -4.01 && d <= -3.99) {
		t.Errorf("readout at %d: happy moved by %.4f, want -4", leased, d)
	}
	if reg.Limbic.Summary["happy"].Mean >= base.Limbic.Summary["happy"].Mean {
		t.Errorf("mean happy z with regulation %.3f, without %.3f", reg.Limbic.Summary["happy"].Mean, base.Limbic.Summary["happy"].Mean)
	}
}

func TestWebhookDelivered(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	fails := 1
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			http.Error(w, "busy", 503)
			return
		}
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		m["key"] = r.Header.Get("Idempotency-Key")
		got = append(got, m)
	}))
	defer recv.Close()
	st := openStore(t)
	ts, _ := newTestServer(t, true, func(c *Config) {
		c.Store = st
		c.Rules = rules(t, `- {name: hook, emotion: sad, op: ">", threshold: -1000, action: {type: webhook, url: "`+recv.URL+`", retries: 3}}`)
	})
	post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var list struct{ Data []store.Alert }
		getJSON(t, ts.URL+"/v1/limbic/alerts?rule=hook", &list)
		done := len(list.Data) == 2
		for _, a := range list.Data {
			done = done && a.Delivery == store.DeliveryDelivered
		}
		if done {
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 2 || !strings.HasPrefix(got[0]["key"].(string), "limbic-alert-") {
				t.Errorf("receiver got %v", got)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("alerts not marked delivered")
}
