package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/browser"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/api"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
)

// The end-to-end test drives the dashboard in headless Chromium (Debian's
// chromium package) against a real server: the embedded model, a synthetic
// vector pack, a SQLite store and a rule that fires at once.

var (
	onceModel sync.Once
	testModel *model.Model
	modelErr  error
)

func loadModel(t *testing.T) *model.Model {
	t.Helper()
	testref.Stories15M(t)
	onceModel.Do(func() { testModel, modelErr = model.Load(context.Background(), model.Default, model.LoadOptions{}) })
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return testModel
}

// testPack: random vectors for a few emotions at every layer, with a
// neutral baseline of mean 0 and std 1 (as serve/api's tests make it).
func testPack(d, layers int) *vecpack.Pack {
	return testpack.Random(testpack.Options{Emotions: []string{"happy", "sad", "calm", "desperate", "angry", "afraid"}, D: d, Layers: layers,
		Seed: 9, ModelID: "stories15m", BestLayer: 3, Norm: testpack.Constant(8)})
}

type serverOpts struct {
	pack        bool
	store       bool
	rules       string // YAML
	apiKey      string
	noTelemetry bool
}

// testServer is the API server with the dashboard, recording the bodies of
// the chat requests it gets.
type testServer struct {
	URL    string
	mu     sync.Mutex
	bodies [][]byte
}

func (ts *testServer) chatBodies() [][]byte {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.bodies)
}

func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	m := loadModel(t)
	cfg := api.Config{Model: m, MaxTokens: 64, APIKey: o.apiKey, NoTelemetry: o.noTelemetry, Dashboard: Handler()}
	if o.pack {
		cfg.Pack, cfg.PackPath = testPack(m.Dim, m.Layers), "test-pack"
	}
	if o.rules != "" {
		rules, err := monitor.ParseRules([]byte(o.rules), "yaml")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Rules = rules
	}
	if o.store {
		st, err := store.Open(filepath.Join(t.TempDir(), "limbic.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{}
	h := s.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions" {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			ts.mu.Lock()
			ts.bodies = append(ts.bodies, b)
			ts.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { hs.Close(); s.Close() })
	ts.URL = hs.URL
	return ts
}

// openPage opens the dashboard in a new tab and waits for it to have started.
func openPage(t *testing.T, bctx context.Context, u string, expected ...string) (context.Context, *browser.Watch) {
	t.Helper()
	ctx, w := browser.Open(t, bctx, u, expected...)
	waitJS(t, ctx, `document.body.dataset.ready === "1"`, "the page to start")
	return ctx, w
}

// waitJS polls a JavaScript predicate until it is truthy.
func waitJS(t *testing.T, ctx context.Context, expr, what string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#status").textContent + " | " +
			document.querySelector("#notice").textContent + " | " + document.querySelector("#messages").textContent`))
		t.Fatalf("waiting for %s (%s): %v; page: %s", what, expr, err, state)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// sendMessage types a message into the chat box, sends it and waits for the
// answer to end.
func sendMessage(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("prompt"), text),
		chromedp.Click(chromedp.ID("send")),
	); err != nil {
		t.Fatal(err)
	}
}

// checkPage fails on requests to other hosts than loopback and on any
// script or console error.
func checkPage(t *testing.T, w *browser.Watch) {
	t.Helper()
	requests, problems := w.Snapshot()
	for _, p := range problems {
		t.Errorf("page: %s", p)
	}
	if len(requests) == 0 {
		t.Error("no requests recorded")
	}
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil {
			t.Errorf("request to %q: %v", r, err)
			continue
		}
		if u.Scheme == "data" || u.Scheme == "blob" {
			continue
		}
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Errorf("the page requested %s, not on loopback", r)
		}
	}
}

type chatBody struct {
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Stream    bool `json:"stream"`
	MaxTokens int  `json:"max_tokens"`
	Limbic    *struct {
		Steer   []string `json:"steer"`
		Readout *struct {
			TopK     int      `json:"top_k"`
			Layer    *int     `json:"layer"`
			Emotions []string `json:"emotions"`
		} `json:"readout"`
	} `json:"limbic"`
}

func decodeBody(t *testing.T, b []byte) chatBody {
	t.Helper()
	var c chatBody
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("chat request %s: %v", b, err)
	}
	return c
}

func TestDashboardE2E(t *testing.T) {
	start := time.Now()
	bctx := browser.Start(t)
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))

	t.Run("chat chart steering alerts", func(t *testing.T) {
		ts := startServer(t, serverOpts{pack: true, store: true,
			rules: `- {name: test-alert, emotion: happy, op: ">", threshold: -1000, for: 1}`})
		ctx, w := openPage(t, bctx, ts.URL+"/")
		if status := evalJS[string](t, ctx, `document.querySelector("#status").textContent`); !strings.Contains(status, "stories15m") || !strings.Contains(status, "test-pack") {
			t.Errorf("status %q", status)
		}
		if opts := evalJS[[]string](t, ctx, `[...document.querySelectorAll("#steer-emotion option")].map(o => o.value)`); len(opts) != 6 || !slices.Contains(opts, "calm") {
			t.Errorf("steer emotions %v", opts)
		}
		waitJS(t, ctx, `document.querySelector("#rules summary").textContent === "1 rule"`, "the rules")

		// Steering: add two steers, remove one.
		setStrength := func(v string) chromedp.Action[chromedp.Void] {
			return chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector("#steer-strength");
				s.value = "` + v + `"; s.dispatchEvent(new Event("input", {bubbles: true})); })()`)
		}
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("steer-emotion"), "calm"),
			setStrength("0.25"),
			chromedp.SetValue(chromedp.ID("steer-layer"), "3"),
			chromedp.SetValue(chromedp.ID("steer-span"), "generated"),
			chromedp.Click(chromedp.ID("steer-add")),
			chromedp.SetValue(chromedp.ID("steer-emotion"), "sad"),
			setStrength("-0.5"),
			// (SetValue cannot set "": chromedp sends the empty string as undefined.)
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#steer-layer").value = ""`),
			chromedp.SetValue(chromedp.ID("steer-span"), "all"),
			chromedp.Click(chromedp.ID("steer-add")),
		); err != nil {
			t.Fatal(err)
		}
		if out := evalJS[string](t, ctx, `document.querySelector("#steer-strength-out").value`); out != "-0.50" {
			t.Errorf("strength shown as %q", out)
		}
		specs := evalJS[[]string](t, ctx, `JSON.parse(document.querySelector("#steers").dataset.specs)`)
		if !slices.Equal(specs, []string{"calm=0.25@3:generated", "sad=-0.5:all"}) {
			t.Fatalf("steers %v", specs)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#steers li[data-spec="sad=-0.5:all"] button`))); err != nil {
			t.Fatal(err)
		}
		if specs := evalJS[[]string](t, ctx, `JSON.parse(document.querySelector("#steers").dataset.specs)`); !slices.Equal(specs, []string{"calm=0.25@3:generated"}) {
			t.Fatalf("steers after removing one: %v", specs)
		}

		// Chat: the chart grows as tokens stream; record each value it shows.
		evalJS[chromedp.Void](t, ctx, `(() => { window.__points = [];
			new MutationObserver(() => window.__points.push(+document.querySelector("#chart").dataset.points))
				.observe(document.querySelector("#chart"), {attributes: true, attributeFilter: ["data-points"]}); })()`)
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("max-tokens"), "40"),
			chromedp.SetValue(chromedp.ID("temperature"), "0"),
		); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		sendMessage(t, ctx, "Tell me a story about a cat.")
		waitJS(t, ctx, `+document.querySelector("#chart").dataset.points >= 8`, "the chart to show 8 tokens")
		waitJS(t, ctx, `[...document.querySelectorAll("#alerts li")].some(li => li.dataset.rule === "test-alert")`, "the alert")
		waitJS(t, ctx, `document.body.dataset.busy === "0"`, "the answer to end")
		t.Logf("first answer in %v", time.Since(sent).Round(time.Millisecond))

		points := evalJS[int](t, ctx, `+document.querySelector("#chart").dataset.points`)
		spans := evalJS[int](t, ctx, `document.querySelectorAll("#messages li.assistant .tok").length`)
		if points < 8 || points != spans {
			t.Errorf("chart has %d points, the answer %d token spans", points, spans)
		}
		if series := evalJS[int](t, ctx, `document.querySelectorAll("#chart path.series").length`); series < 1 || series > 6 {
			t.Errorf("%d series drawn", series)
		}
		// Every line is one unbroken run through every token: one M, then L.
		lines := evalJS[[]string](t, ctx, `[...document.querySelectorAll("#chart path.series")].map(p =>
			p.dataset.emotion + " " + (p.getAttribute("d").match(/M/g) || []).length + " " + (p.getAttribute("d").match(/[ML]/g) || []).length)`)
		for _, l := range lines {
			var e string
			var moves, pts int
			if _, err := fmt.Sscan(l, &e, &moves, &pts); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			if moves != 1 || pts != points {
				t.Errorf("line %s: %d runs over %d points, want 1 run over %d", e, moves, pts, points)
			}
		}
		// Axis titles on both axes.
		if titles := evalJS[[]string](t, ctx, `[...document.querySelectorAll("#chart text.axis-title")].map(e => e.textContent)`); len(titles) != 2 || titles[0] == "" || titles[1] == "" {
			t.Errorf("axis titles %q, want two", titles)
		}
		if legend := evalJS[int](t, ctx, `document.querySelectorAll("#legend li").length`); legend < 1 {
			t.Error("no legend")
		}
		seen := evalJS[[]int](t, ctx, `window.__points`)
		if len(seen) < 2 || !slices.IsSorted(seen) || seen[len(seen)-1] != points {
			t.Errorf("the chart showed %v points as it updated, want a growing series ending at %d", seen, points)
		}
		// The rule fires (for: 1 — pending, then firing) and resolves when the answer ends.
		states := evalJS[[]string](t, ctx, `[...document.querySelectorAll('#alerts li[data-rule="test-alert"] .state')].map(e => e.textContent)`)
		if !slices.Contains(states, "firing") {
			t.Errorf("alert states %v, want a firing one", states)
		}
		alert := evalJS[map[string]string](t, ctx, `(() => { const li = document.querySelector('#alerts li[data-rule="test-alert"]');
			return {text: li.textContent, conv: li.dataset.conversation}; })()`)
		if !strings.HasPrefix(alert["conv"], "conv-") || !strings.Contains(alert["text"], "pos ") || !strings.Contains(alert["text"], "value ") {
			t.Errorf("alert %v", alert)
		}

		// Hovering the chart shows the token under the cursor.
		evalJS[chromedp.Void](t, ctx, `(() => { const svg = document.querySelector("#chart"); const r = svg.getBoundingClientRect();
			svg.dispatchEvent(new MouseEvent("mousemove", {clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true})); })()`)
		if tip := evalJS[string](t, ctx, `document.querySelector("#tooltip").hidden ? "" : document.querySelector("#tooltip .tt-tok").textContent`); !strings.HasPrefix(tip, "#") {
			t.Errorf("tooltip %q", tip)
		} else {
			// It names the token under the cursor by its text (spaces as ␣).
			var i int
			fmt.Sscanf(tip, "#%d", &i)
			text := evalJS[string](t, ctx, `document.querySelectorAll("#messages li.assistant .tok")[`+fmt.Sprint(i)+`].textContent`)
			if want := strings.ReplaceAll(text, " ", "␣"); !strings.Contains(tip, "“"+want+"”") {
				t.Errorf("tooltip %q does not show token %d's text %q", tip, i, text)
			}
		}

		// The request carried the steer, the readout and the message.
		bodies := ts.chatBodies()
		if len(bodies) != 1 {
			t.Fatalf("%d chat requests", len(bodies))
		}
		b := decodeBody(t, bodies[0])
		if !b.Stream || len(b.Messages) != 1 || b.Messages[0].Role != "user" || b.Messages[0].Content != "Tell me a story about a cat." || b.MaxTokens != 40 {
			t.Errorf("request %s", bodies[0])
		}
		if b.Limbic == nil || !slices.Equal(b.Limbic.Steer, []string{"calm=0.25@3:generated"}) || b.Limbic.Readout == nil || b.Limbic.Readout.TopK != 5 {
			t.Errorf("request's limbic: %s", bodies[0])
		}
		if b.Limbic != nil && b.Limbic.Readout != nil && len(b.Limbic.Readout.Emotions) != 6 {
			t.Errorf("request asks for emotions %v, want all 6 of the pack's", b.Limbic.Readout.Emotions)
		}

		// A second turn sends the history.
		sendMessage(t, ctx, "And then?")
		waitJS(t, ctx, `document.querySelectorAll("#messages li.assistant").length === 2 && document.body.dataset.busy === "0"`, "the second answer")
		if bodies := ts.chatBodies(); len(bodies) != 2 {
			t.Errorf("%d chat requests", len(bodies))
		} else if b := decodeBody(t, bodies[1]); len(b.Messages) != 3 || b.Messages[1].Role != "assistant" || b.Messages[1].Content == "" || b.Messages[2].Content != "And then?" {
			t.Errorf("second request %s", bodies[1])
		}

		// An alert from another client shows up by polling.
		resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(
			`{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"limbic":{"conversation_id":"conv-another-client"}}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		waitJS(t, ctx, `!!document.querySelector('#alerts li[data-conversation="conv-another-client"]')`, "the other client's alert")
		ids := evalJS[[]int](t, ctx, `[...document.querySelectorAll("#alerts li")].map(li => +li.dataset.id)`)
		if !slices.IsSortedFunc(ids, func(a, b int) int { return b - a }) {
			t.Errorf("alerts not newest first: ids %v", ids)
		}

		if out := os.Getenv("LIMBIC_DASHBOARD_SCREENSHOT"); out != "" { // mid-conversation
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(out, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		// New chat forgets the history.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("new-chat")), chromedp.SetValue(chromedp.ID("max-tokens"), "4")); err != nil {
			t.Fatal(err)
		}
		sendMessage(t, ctx, "Hi")
		waitJS(t, ctx, `document.querySelectorAll("#messages li.assistant").length === 1 && document.body.dataset.busy === "0"`, "the new chat's answer")
		// (the third request is the other client's)
		if bodies := ts.chatBodies(); len(bodies) != 4 || len(decodeBody(t, bodies[3]).Messages) != 1 {
			t.Errorf("after New chat: %q", bodies[len(bodies)-1])
		}
		checkPage(t, w)
	})

	t.Run("no vector pack", func(t *testing.T) {
		ts := startServer(t, serverOpts{})
		ctx, w := openPage(t, bctx, ts.URL+"/", "/v1/limbic/alerts")
		if status := evalJS[string](t, ctx, `document.querySelector("#status").textContent`); !strings.Contains(status, "no vector pack: plain completions") {
			t.Errorf("status %q", status)
		}
		if hidden := evalJS[bool](t, ctx, `document.querySelector("#steer-panel").hidden && document.querySelector("#chart-panel").hidden`); !hidden {
			t.Error("steering and chart shown without a pack")
		}
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("max-tokens"), "8")); err != nil {
			t.Fatal(err)
		}
		sendMessage(t, ctx, "Hello")
		waitJS(t, ctx, `document.body.dataset.busy === "0" && document.querySelectorAll("#messages li.assistant").length === 1`, "the answer")
		if text := evalJS[string](t, ctx, `document.querySelector("#messages li.assistant .body").textContent`); text == "" || strings.HasPrefix(text, "Error") {
			t.Errorf("answer %q", text)
		}
		if bodies := ts.chatBodies(); len(bodies) != 1 || bytes.Contains(bodies[0], []byte(`"limbic"`)) {
			t.Errorf("requests without a pack: %q", bodies)
		}
		waitJS(t, ctx, `document.querySelector("#alerts-meta").textContent.includes("no store")`, "the store-less note")
		if out := os.Getenv("LIMBIC_DASHBOARD_SCREENSHOT"); out != "" { // as on a phone
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(420, 900)); err != nil {
				t.Fatal(err)
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(strings.TrimSuffix(out, ".png")+"-nopack.png", png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		checkPage(t, w)
	})

	t.Run("telemetry off", func(t *testing.T) {
		ts := startServer(t, serverOpts{pack: true, noTelemetry: true})
		ctx, w := openPage(t, bctx, ts.URL+"/", "/v1/chat/completions", "/v1/limbic/alerts")
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("max-tokens"), "4")); err != nil {
			t.Fatal(err)
		}
		sendMessage(t, ctx, "Hello")
		waitJS(t, ctx, `document.body.dataset.busy === "0" && document.querySelectorAll("#messages li.assistant").length === 1`, "the answer")
		if text := evalJS[string](t, ctx, `document.querySelector("#messages li.assistant").textContent + " | " + document.querySelector("#notice").textContent`); strings.Contains(text, "Error") || !strings.Contains(text, "telemetry off") {
			t.Errorf("answer and notice %q", text)
		}
		if bodies := ts.chatBodies(); len(bodies) != 2 || bytes.Contains(bodies[1], []byte(`"readout"`)) {
			t.Errorf("requests %q", bodies)
		}
		checkPage(t, w)
	})

	t.Run("api key", func(t *testing.T) {
		ts := startServer(t, serverOpts{pack: true, apiKey: "sekrit"})
		for path, want := range map[string]int{"/": 200, "/app.js": 200, "/v1/models": 401, "/nope": 404} {
			resp, err := http.Get(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s without the key: %d, want %d", path, resp.StatusCode, want)
			}
		}
		ctx, w := openPage(t, bctx, ts.URL+"/", "/v1/models", "/v1/limbic/alerts")
		waitJS(t, ctx, `document.querySelector("#status").dataset.state === "error"`, "the key request")
		if status := evalJS[string](t, ctx, `document.querySelector("#status").textContent`); !strings.Contains(status, "API key") {
			t.Errorf("status %q", status)
		}
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("api-key"), "sekrit"),
			chromedp.Click(chromedp.CSS("#key-form button")),
		); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, `document.querySelector("#status").dataset.state === "ready"`, "the models with the key")
		if stored := evalJS[string](t, ctx, `localStorage.getItem("limbic.apiKey")`); stored != "sekrit" {
			t.Errorf("stored key %q", stored)
		}
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("max-tokens"), "4")); err != nil {
			t.Fatal(err)
		}
		sendMessage(t, ctx, "Hi")
		waitJS(t, ctx, `document.body.dataset.busy === "0" && +document.querySelector("#chart").dataset.points > 0`, "the answer with the key")
		checkPage(t, w)
	})
	t.Logf("end-to-end test in %v", time.Since(start).Round(time.Millisecond))
}
