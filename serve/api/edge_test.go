package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/limbic-dev/limbic/serve/metrics"

	"github.com/limbic-dev/limbic/serve/monitor"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// apiErr decodes an OpenAI-shaped error body, failing the test when the
// body is not one or leaks Go internals.
func apiErr(t *testing.T, what string, resp *http.Response, b []byte) ErrorDetail {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: content type %q, want application/json (body %q)", what, ct, b)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(b, &raw); err != nil || raw["error"] == nil {
		t.Fatalf("%s: body %q is not an OpenAI error", what, b)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := raw["error"][k]; !ok {
			t.Errorf("%s: error without %q: %s", what, k, b)
		}
	}
	var e ErrorBody
	json.Unmarshal(b, &e)
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Errorf("%s: empty message or type: %s", what, b)
	}
	if leaksGo(e.Error.Message) {
		t.Errorf("%s: message leaks Go internals: %q", what, e.Error.Message)
	}
	return e.Error
}

func leaksGo(msg string) bool {
	for _, s := range []string{"json:", "Go struct", "Go value", "api.", "type int", "type uint", "type float", "type string", "type bool",
		"type []", "type map", "type *", "float64", "int64"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func param(d ErrorDetail) string {
	if d.Param == nil {
		return ""
	}
	return *d.Param
}

const userMsg = `"messages":[{"role":"user","content":"Hi"}]`

// TestBadNumbersRejected: non-finite or absurd steering strengths and
// out-of-range sampling numbers are 400s naming the field (steering NaN
// used to give a 200 with an empty body).
func TestBadNumbersRejected(t *testing.T) {
	ts, _ := newTestServer(t, true, nil)
	tests := []struct {
		name, body, param string
	}{
		// A spec string is checked as it is parsed (steer.Parse), which
		// names the spec rather than its index.
		{"steer NaN", `{` + userMsg + `,"max_tokens":2,"limbic":{"steer":["calm=NaN"]}}`, "limbic.steer"},
		{"steer Inf", `{` + userMsg + `,"max_tokens":2,"limbic":{"steer":["happy=0.1","calm=-Inf"]}}`, "limbic.steer"},
		{"steer huge string", `{` + userMsg + `,"max_tokens":2,"limbic":{"steer":["calm=1e300"]}}`, "limbic.steer"},
		{"steer huge object", `{` + userMsg + `,"max_tokens":2,"limbic":{"steer":[{"emotion":"calm","strength":-1e300}]}}`, "limbic.steer[0].strength"},
		{"steer over bound", `{` + userMsg + `,"max_tokens":2,"limbic":{"steer":["calm=11"]}}`, "limbic.steer"},
		{"steer object over bound", `{` + userMsg + `,"max_tokens":2,"limbic":{"steer":[{"emotion":"calm","strength":10.5}]}}`, "limbic.steer[0].strength"},
		{"steer overflow", `{` + userMsg + `,"max_tokens":2,"limbic":{"steer":[{"emotion":"calm","strength":1e400}]}}`, "limbic.steer.strength"},
		{"temperature overflow", `{` + userMsg + `,"temperature":1e400}`, "temperature"},
		{"temperature negative", `{` + userMsg + `,"temperature":-0.1}`, "temperature"},
		{"top_p zero", `{` + userMsg + `,"top_p":0}`, "top_p"},
		{"top_p over", `{` + userMsg + `,"top_p":1.5}`, "top_p"},
		{"top_k negative", `{` + userMsg + `,"top_k":-1}`, "top_k"},
		{"max_tokens zero", `{` + userMsg + `,"max_tokens":0}`, "max_tokens"},
		{"max_tokens huge", `{` + userMsg + `,"max_tokens":1e20}`, "max_tokens"},
		{"max_tokens fraction", `{` + userMsg + `,"max_tokens":1.5}`, "max_tokens"},
		{"seed overflow", `{` + userMsg + `,"seed":1e30}`, "seed"},
		{"readout top_k negative", `{` + userMsg + `,"limbic":{"readout":{"top_k":-2}}}`, "limbic.readout.top_k"},
		{"readout every negative", `{` + userMsg + `,"limbic":{"readout":{"every":-1}}}`, "limbic.readout.every"},
	}
	for _, tt := range tests {
		resp, b := post(t, ts.URL+"/v1/chat/completions", tt.body)
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d body %q, want 400", tt.name, resp.StatusCode, b)
			continue
		}
		if got := param(apiErr(t, tt.name, resp, b)); got != tt.param {
			t.Errorf("%s: param %q, want %q (%s)", tt.name, got, tt.param, b)
		}
	}
	// A strength at the bound is accepted.
	if resp, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Hi","max_tokens":1,"limbic":{"steer":["calm=-10"]}}`); resp.StatusCode != 200 {
		t.Errorf("strength -10: status %d %s", resp.StatusCode, b)
	}
}

// TestRegulateStrengthChecked: a rule's regulate steer goes through the
// same check as a request's.
func TestRegulateStrengthChecked(t *testing.T) {
	m := loadModel(t)
	for _, tt := range []struct {
		steer string
		ok    bool
	}{{"calm=0.5", true}, {"calm=NaN", false}, {"calm=1e9", false}} {
		// Built in code, not loaded from a file (which checks it too).
		r := []monitor.Rule{{Name: "r", Emotion: "sad", Layer: monitor.BestLayer, Op: ">", Threshold: 2,
			Action: monitor.Action{Type: monitor.Regulate, Steer: tt.steer, Tokens: 4}}}
		_, err := New(Config{Model: m, Pack: testPack(m.Dim, m.Layers), Rules: r})
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "strength")) {
			t.Errorf("regulate steer %s: err %v, want ok=%v", tt.steer, err, tt.ok)
		}
	}
}

// TestWriteJSONNonFinite: a response that does not encode becomes a 500
// error body, and the error is returned for the log.
func TestWriteJSONNonFinite(t *testing.T) {
	rec := httptest.NewRecorder()
	err := writeJSON(rec, http.StatusOK, map[string]float64{"mean": math.NaN()})
	if err == nil {
		t.Error("writeJSON of NaN: no error returned")
	}
	resp := rec.Result()
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500; body %q", resp.StatusCode, rec.Body.String())
	}
	if d := apiErr(t, "NaN response", resp, rec.Body.Bytes()); d.Type != "server_error" {
		t.Errorf("type %q, want server_error", d.Type)
	}
}

// TestSSEEncodingError: a stream event that does not encode is logged and
// replaced by an error event; the stream ends there, without [DONE].
func TestSSEEncodingError(t *testing.T) {
	rec := httptest.NewRecorder()
	var logs syncBuffer
	sw := &sseWriter{w: rec, f: rec, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if !sw.send(map[string]int{"a": 1}) {
		t.Fatal("first send failed")
	}
	if sw.send(map[string]float32{"z": float32(math.Inf(1))}) {
		t.Error("send of +Inf reported success")
	}
	if sw.send(map[string]int{"b": 2}) {
		t.Error("send after the error event reported success")
	}
	sw.done()
	events := sse(t, rec.Body)
	if len(events) != 2 {
		t.Fatalf("events %q, want the first and an error event", events)
	}
	var e ErrorBody
	if err := json.Unmarshal([]byte(events[1]), &e); err != nil || e.Error.Type != "server_error" || e.Error.Message == "" {
		t.Errorf("second event %q, want a server_error", events[1])
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "encoding a stream event") {
		t.Errorf("no error logged: %q", logs.String())
	}
}

// TestUnknownAndUnsupportedFields: unknown fields in the limbic extension
// and unsupported OpenAI fields with a value other than their neutral one
// are 400s naming the field; neutral values are accepted.
func TestUnknownAndUnsupportedFields(t *testing.T) {
	ts, _ := newTestServer(t, true, nil)
	chat, comp := ts.URL+"/v1/chat/completions", ts.URL+"/v1/completions"
	tests := []struct {
		name, url, body string
		status          int
		param           string
	}{
		{"limbic typo", chat, `{` + userMsg + `,"limbic":{"stear":["calm=0.1"]}}`, 400, "limbic.stear"},
		{"readout typo", chat, `{` + userMsg + `,"limbic":{"readout":{"topk":2}}}`, 400, "limbic.readout.topk"},
		{"steer object typo", chat, `{` + userMsg + `,"limbic":{"steer":[{"emotion":"calm","strenght":0.1}]}}`, 400, "limbic.steer.strenght"},
		{"steer not a list", chat, `{` + userMsg + `,"limbic":{"steer":"calm=0.1"}}`, 400, "limbic.steer"},
		{"unknown top-level", chat, `{` + userMsg + `,"temprature":0}`, 400, "temprature"},
		{"frequency_penalty", chat, `{` + userMsg + `,"frequency_penalty":0.5}`, 400, "frequency_penalty"},
		{"presence_penalty", comp, `{"prompt":"Hi","presence_penalty":-1}`, 400, "presence_penalty"},
		{"logprobs not a boolean", chat, `{` + userMsg + `,"logprobs":1}`, 400, "logprobs"},
		{"logit_bias", chat, `{` + userMsg + `,"logit_bias":{"50256":-100}}`, 400, "logit_bias"},
		{"tools", chat, `{` + userMsg + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, "tools"},
		{"response_format", chat, `{` + userMsg + `,"response_format":{"type":"json_object"}}`, 400, "response_format"},
		{"suffix", comp, `{"prompt":"Hi","suffix":"end"}`, 400, "suffix"},
		{"best_of", comp, `{"prompt":"Hi","best_of":3}`, 400, "best_of"},
		{"message typo", chat, `{"messages":[{"role":"user","contnet":"Hi"}]}`, 400, "messages.contnet"},
		{"message tool calls", chat, `{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}]}`, 400, "messages.tool_calls"},
		{"messages in completions", comp, `{"prompt":"Hi",` + userMsg + `}`, 400, "messages"},
		{"neutral values", chat, `{"max_tokens":1,"frequency_penalty":0,"presence_penalty":0,"logprobs":false,
			"logit_bias":{},"tools":[],"messages":[{"role":"user","content":"Hi","name":"n","tool_calls":[],"refusal":null}],"tool_choice":"none","response_format":{"type":"text"},"store":false,"user":"u"}`, 200, ""},
		{"neutral completions", comp, `{"prompt":"Hi","max_tokens":1,"suffix":null,"best_of":1,"logit_bias":null}`, 200, ""},
	}
	for _, tt := range tests {
		resp, b := post(t, tt.url, tt.body)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d body %q, want %d", tt.name, resp.StatusCode, b, tt.status)
			continue
		}
		if tt.status == 200 {
			continue
		}
		d := apiErr(t, tt.name, resp, b)
		if got := param(d); got != tt.param || !strings.Contains(d.Message, strings.TrimPrefix(tt.param, "limbic.")) {
			t.Errorf("%s: param %q message %q, want param %q named in the message", tt.name, got, d.Message, tt.param)
		}
	}
}

// TestEcho: completions' echo puts the prompt before the completion,
// streamed or not.
func TestEcho(t *testing.T) {
	ts, _ := newTestServer(t, false, nil)
	const prompt = "Once upon a time"
	resp, b := post(t, ts.URL+"/v1/completions", `{"prompt":"`+prompt+`","max_tokens":4,"temperature":0,"echo":true}`)
	var c CompletionResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &c) != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	_, b = post(t, ts.URL+"/v1/completions", `{"prompt":"`+prompt+`","max_tokens":4,"temperature":0}`)
	var plain CompletionResponse
	json.Unmarshal(b, &plain)
	if got, want := c.Choices[0].Text, prompt+plain.Choices[0].Text; got != want {
		t.Errorf("echo text %q, want %q", got, want)
	}
	resp, b = post(t, ts.URL+"/v1/completions", `{"prompt":"`+prompt+`","max_tokens":4,"temperature":0,"echo":true,"stream":true}`)
	var streamed strings.Builder
	for _, e := range sse(t, bytes.NewReader(b)) {
		var ch CompletionResponse
		if json.Unmarshal([]byte(e), &ch) == nil && len(ch.Choices) == 1 {
			streamed.WriteString(ch.Choices[0].Text)
		}
	}
	if got, want := streamed.String(), prompt+plain.Choices[0].Text; got != want {
		t.Errorf("streamed echo %q, want %q", got, want)
	}
}

// TestTypeErrorsOpenAIShaped: wrong JSON types are 400s naming the field
// in request terms, without Go type names.
func TestTypeErrorsOpenAIShaped(t *testing.T) {
	ts, _ := newTestServer(t, true, nil)
	tests := []struct {
		name, body, param string
	}{
		{"messages string", `{"messages":"hi"}`, "messages"},
		{"role number", `{"messages":[{"role":1,"content":"x"}]}`, "messages.role"},
		{"max_tokens string", `{` + userMsg + `,"max_tokens":"5"}`, "max_tokens"},
		{"stream string", `{` + userMsg + `,"stream":"yes"}`, "stream"},
		{"limbic array", `{` + userMsg + `,"limbic":[]}`, "limbic"},
		{"readout top_k string", `{` + userMsg + `,"limbic":{"readout":{"top_k":"x"}}}`, "limbic.readout.top_k"},
		{"body array", `[1,2]`, ""},
	}
	for _, tt := range tests {
		resp, b := post(t, ts.URL+"/v1/chat/completions", tt.body)
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d body %q, want 400", tt.name, resp.StatusCode, b)
			continue
		}
		if got := param(apiErr(t, tt.name, resp, b)); got != tt.param {
			t.Errorf("%s: param %q, want %q (%s)", tt.name, got, tt.param, b)
		}
	}
}

// TestNotFoundAndMethodJSON: unknown routes and wrong methods answer
// OpenAI-shaped JSON (405 with Allow), with and without the dashboard.
func TestNotFoundAndMethodJSON(t *testing.T) {
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>dashboard</html>") })
	for _, withDash := range []bool{false, true} {
		ts, _ := newTestServer(t, false, func(c *Config) {
			if withDash {
				c.Dashboard = dash
			}
		})
		// With the dashboard, every GET path outside /v1/ is its.
		v2, v2allow := 404, ""
		if withDash {
			v2, v2allow = 405, "GET, HEAD"
		}
		tests := []struct {
			method, path string
			status       int
			allow        string
		}{
			{"GET", "/v1/nope", 404, ""},
			{"POST", "/v2/chat", v2, v2allow},
			{"GET", "/v1/chat/completions", 405, "POST"},
			{"DELETE", "/v1/models", 405, "GET, HEAD"},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			what := tt.method + " " + tt.path
			if resp.StatusCode != tt.status {
				t.Errorf("dashboard %v: %s: status %d body %q, want %d", withDash, what, resp.StatusCode, b, tt.status)
				continue
			}
			apiErr(t, what, resp, b)
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("%s: Allow %q, want %q", what, got, tt.allow)
			}
		}
		if withDash {
			resp, err := http.Get(ts.URL + "/index.html")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("dashboard file: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
		}
	}
}

// TestHostCheck: on a loopback bind only loopback Host headers are served.
func TestHostCheck(t *testing.T) {
	for _, bind := range []string{"127.0.0.1:8080", "0.0.0.0:8080"} {
		ts, _ := newTestServer(t, false, func(c *Config) { c.BindAddr = bind; c.APIKey = "k" })
		tests := []struct {
			host string
			ok   bool
		}{
			{"localhost", true}, {"localhost:8080", true}, {"LOCALHOST:1", true}, {"127.0.0.1:8080", true},
			{"127.9.8.7", true}, {"[::1]:8080", true}, {"[::1]", true},
			{"evil.example", false}, {"evil.example:8080", false}, {"localhost.evil.example", false},
			{"192.168.1.2:8080", false}, {"[::2]:80", false}, {"0.0.0.0:8080", false},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest("GET", ts.URL+"/health", nil)
			req.Host = tt.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := 200
			if !tt.ok && bind == "127.0.0.1:8080" {
				want = 403
			}
			if resp.StatusCode != want {
				t.Errorf("bind %s, Host %q: status %d, want %d (%s)", bind, tt.host, resp.StatusCode, want, b)
			}
			if want == 403 {
				apiErr(t, "Host "+tt.host, resp, b)
			}
		}
	}
}

// TestBindWarning: binding beyond loopback without an API key logs a
// warning at start; loopback or a key does not.
func TestBindWarning(t *testing.T) {
	m := loadModel(t)
	tests := []struct {
		bind, key string
		warn      bool
	}{
		{"0.0.0.0:8080", "", true}, {":8080", "", true}, {"192.168.1.2:80", "", true}, {"[::]:80", "", true},
		{"0.0.0.0:8080", "k", false}, {"127.0.0.1:8080", "", false}, {"localhost:8080", "", false}, {"[::1]:0", "", false},
	}
	for _, tt := range tests {
		var logs syncBuffer
		s, err := New(Config{Model: m, BindAddr: tt.bind, APIKey: tt.key, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "WITHOUT AN API KEY")
		if got != tt.warn {
			t.Errorf("bind %s key %q: warned %v, want %v (log %q)", tt.bind, tt.key, got, tt.warn, logs.String())
		}
	}
	if _, err := New(Config{Model: m, BindAddr: "nonsense"}); err == nil {
		t.Error("bind address without a port: no error")
	}
}

// TestRequestLog: one structured line per request with method, path,
// status, duration and bytes.
func TestRequestLog(t *testing.T) {
	var logs syncBuffer
	ts, _ := newTestServer(t, false, func(c *Config) { c.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	resp, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	post(t, ts.URL+"/v1/chat/completions", `{"messages":[]}`)
	type line struct {
		Msg      string  `json:"msg"`
		Method   string  `json:"method"`
		Path     string  `json:"path"`
		Status   int     `json:"status"`
		Duration float64 `json:"duration"`
		Bytes    int     `json:"bytes"`
	}
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var ln line
		if json.Unmarshal([]byte(l), &ln) == nil && ln.Msg == "request" {
			got = append(got, ln)
		}
	}
	if len(got) != 2 {
		t.Fatalf("request lines %+v, want 2 (log %q)", got, logs.String())
	}
	if g := got[0]; g.Method != "GET" || g.Path != "/v1/models" || g.Status != 200 || g.Bytes != len(body) || !(g.Duration > 0) {
		t.Errorf("first line %+v, want GET /v1/models 200 with %d bytes and a duration", g, len(body))
	}
	if g := got[1]; g.Method != "POST" || g.Path != "/v1/chat/completions" || g.Status != 400 || !(g.Bytes > 0) {
		t.Errorf("second line %+v, want POST /v1/chat/completions 400", g)
	}
}

// TestQueueLimit: with one slot and a queue of one, a third concurrent
// request gets 429 with Retry-After.
func TestQueueLimit(t *testing.T) {
	ts, s := newTestServer(t, false, func(c *Config) { c.MaxSeqs, c.MaxQueue, c.MaxTokens = 1, 1, 2000 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	long := `{"prompt":"Once","max_tokens":400,"stream":true}`
	start := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/completions", strings.NewReader(long))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	a := start() // runs
	if _, err := bufio.NewReader(a.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	go func() { // waits; its headers come only once it runs
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/completions", strings.NewReader(long))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.inflight.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.inflight.Load(); n != 2 {
		t.Fatalf("%d requests in flight, want 2", n)
	}
	resp, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Hi","max_tokens":1}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third request: status %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := apiErr(t, "429", resp, b); d.Code == nil || *d.Code != "rate_limit_exceeded" {
		t.Errorf("429 code %v", d.Code)
	}
	cancel()
	deadline = time.Now().Add(5 * time.Second)
	for s.inflight.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.inflight.Load(); n != 0 {
		t.Errorf("after cancel: %d requests in flight", n)
	}
}

// TestSlowClients: a client that trickles its headers is cut off after
// the header timeout, and one that trickles its body gets 408 after the
// body timeout.
func TestSlowClients(t *testing.T) {
	m := loadModel(t)
	s, err := New(Config{Model: m, HeaderTimeout: 200 * time.Millisecond, BodyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = s.HTTPServer()
	ts.Start()
	defer ts.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	// Headers never finished.
	c := dial()
	defer c.Close()
	io.WriteString(c, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n")
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("slow headers: connection not closed by the server: %v", err)
	}
	if d := time.Since(start); !(d < 3*time.Second) {
		t.Errorf("slow headers: closed after %v", d)
	}
	// Body never finished.
	c2 := dial()
	defer c2.Close()
	io.WriteString(c2, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\":")
	resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatalf("slow body: no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body: status %d %q, want 408", resp.StatusCode, b)
	}
	apiErr(t, "slow body", resp, b)
}

// TestIdleGauges: once the server is idle, the active-sequence, queue and
// tokens/s gauges read 0, after a finished and after a canceled request.
func TestIdleGauges(t *testing.T) {
	met := metrics.New(metrics.Options{NoRuntime: true})
	ts, s := newTestServer(t, false, func(c *Config) { c.Metrics = met; c.MaxTokens = 2000 })
	check := func(when string) {
		t.Helper()
		for _, g := range []struct {
			name string
			v    float64
		}{{"active", metricValue(t, met.ActiveSeqs)}, {"queue", metricValue(t, met.QueueDepth)}, {"tps", metricValue(t, met.DecodeTPS)}} {
			if g.v != 0 {
				t.Errorf("%s: %s gauge %v, want 0", when, g.name, g.v)
			}
		}
	}
	if resp, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Once","max_tokens":6}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if metricValue(t, met.TokensGenerated) == 0 {
		t.Fatal("no tokens counted: the step hook did not run")
	}
	check("after a finished request")

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"Once","max_tokens":500,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 4; i++ {
		br.ReadString('\n')
	}
	if metricValue(t, met.ActiveSeqs) != 1 {
		t.Errorf("mid-stream: active %v, want 1", metricValue(t, met.ActiveSeqs))
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.inflight.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	check("after a canceled request")
}

// metricValue reads a gauge's or counter's value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}
