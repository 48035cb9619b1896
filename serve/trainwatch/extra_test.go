package trainwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/serve/monitor"
)

// TestOverheadStories15M: loading and evaluating a stories15M checkpoint
// on the default probe set takes under 10 s (the budget, on 2
// cores: run with GOMAXPROCS=2 to check it there).
func TestOverheadStories15M(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	e.write(t, run, 100, 0.01)
	cps, _, err := Scan(run, ScanOptions{})
	if err != nil || len(cps) != 1 {
		t.Fatalf("scan: %v, %d checkpoints", err, len(cps))
	}
	db, err := OpenDB(filepath.Join(t.TempDir(), "watch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	probes := DefaultProbes(false)
	w, err := New(context.Background(), Options{RunDir: run, DB: db, Pack: e.pack, Probes: probes, Layer: readout.Best, Load: (&Loader{Base: e.base}).Load})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := w.Poll(context.Background())
	el := time.Since(start)
	if err != nil || n != 1 {
		t.Fatalf("poll: %d, %v", n, err)
	}
	t.Logf("one stories15M checkpoint, %d probes: %.2fs wall (evaluation %.2fs), GOMAXPROCS from the environment", len(probes.Probes), el.Seconds(), w.History()[0].Seconds)
	if !(el < 10*time.Second) {
		t.Errorf("evaluating a checkpoint took %v, want under 10s", el)
	}
}

// TestDefaultProbes: both shipped sets parse, with 16 to 24 probes of two
// kinds each.
func TestDefaultProbes(t *testing.T) {
	for _, chat := range []bool{false, true} {
		ps := DefaultProbes(chat)
		kinds := map[string]int{}
		for _, p := range ps.Probes {
			kinds[p.Kind]++
		}
		if n := len(ps.Probes); n < 16 || n > 24 || len(kinds) != 2 {
			t.Errorf("chat=%v: %d probes of kinds %v, want 16..24 of two kinds", chat, n, kinds)
		}
	}
	if _, err := ParseProbes([]byte(`{"prompt": "a", "knd": "x"}`), "bad.jsonl"); err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") {
		t.Errorf("unknown field: err = %v, want one naming bad.jsonl:1", err)
	}
	ps, err := ParseProbes([]byte("# comment\nOne day\n\nTwo\n"), "plain")
	if err != nil || len(ps.Probes) != 2 || ps.Probes[1].Prompt != "Two" {
		t.Errorf("plain text: %+v, %v", ps, err)
	}
}

// TestWebhookStoredBeforeSent: a webhook alert is in the database, as
// pending, when the receiver gets it, and marked delivered after a 2xx; an
// alert left pending (a crash before delivery) is sent by the next watcher.
func TestWebhookStoredBeforeSent(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	e.write(t, run, 10, 0)
	dbPath := filepath.Join(t.TempDir(), "watch.db")
	var mu sync.Mutex
	var got []monitor.Payload
	var storedAtReceipt []string
	var check *DB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p monitor.Payload
		if err := json.Unmarshal(b, &p); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		got = append(got, p)
		as, err := check.Alerts(context.Background(), true)
		st := fmt.Sprintf("err %v", err)
		for _, a := range as {
			if a.ID == p.ID {
				st = a.Delivery
			}
		}
		storedAtReceipt = append(storedAtReceipt, st)
		mu.Unlock()
	}))
	defer srv.Close()
	rules, err := monitor.ParseRules([]byte(fmt.Sprintf("- {name: calm-any, emotion: calm, op: '>', threshold: -1000, action: {type: webhook, url: %q, retries: 0}}", srv.URL)), "yaml")
	if err != nil {
		t.Fatal(err)
	}
	w, db := e.watcher(t, run, dbPath, watchSetup{rules: rules})
	check = db
	if n, err := w.Poll(context.Background()); err != nil || n != 1 {
		t.Fatalf("poll: %d, %v", n, err)
	}
	if len(got) != 1 || got[0].Rule != "calm-any" || got[0].Pos != 10 || storedAtReceipt[0] != DeliveryPending {
		t.Fatalf("deliveries %+v, stored at receipt %v; want one for step 10, stored as pending", got, storedAtReceipt)
	}
	as, err := db.Alerts(context.Background(), false)
	if err != nil || len(as) != 1 || as[0].Delivery != DeliveryDelivered {
		t.Fatalf("after delivery: %+v, %v; want one delivered alert", as, err)
	}
	// A crash between storing and sending: the alert stays pending.
	if _, err := db.AddAlerts(context.Background(), []monitor.Event{{Rule: "calm-any", Kind: monitor.EventResolved, Pos: 10, Action: monitor.Webhook}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, db2 := e.watcher(t, run, dbPath, watchSetup{rules: rules})
	check = db2
	if len(got) != 2 || got[1].Kind != monitor.EventResolved {
		t.Fatalf("the restarted watcher sent %d deliveries (%+v), want the pending one resent", len(got), got)
	}
	pend, err := db2.Alerts(context.Background(), true)
	if err != nil || len(pend) != 0 {
		t.Errorf("pending after restart: %+v, %v", pend, err)
	}
}

// TestMetrics: the metrics endpoint shows the evaluated count, the last
// step and the per-emotion change.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	e.write(t, run, 10, 0)
	e.write(t, run, 20, 0.02)
	db, err := OpenDB(filepath.Join(t.TempDir(), "watch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	met := NewMetrics()
	w, err := New(context.Background(), Options{RunDir: run, DB: db, Pack: e.pack, Probes: fewProbes, Layer: readout.Best, Load: (&Loader{Base: e.base}).Load, Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	dz, _ := w.History()[1].Value(monitor.Key{Emotion: "calm", Layer: 3, Stat: monitor.DeltaZ})
	for _, want := range []string{"limbic_watch_checkpoints_evaluated_total 2", "limbic_watch_last_step 20", fmt.Sprintf(`limbic_watch_dz{emotion="calm"} %g`, dz)} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if dz == 0 {
		t.Errorf("calm dz at a perturbed checkpoint is 0")
	}
}

// TestLoRAAdapterMatchesMergedFull: an adapter checkpoint over the base
// reads the same as a full checkpoint holding W + (alpha/r)·B·A, merged
// here by hand; an adapter with B = 0 reads as the base.
func TestLoRAAdapterMatchesMergedFull(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	const r, alpha = 2, 4.0
	target := "model.layers.1.self_attn.q_proj"
	var w *tensor.Tensor
	for _, x := range e.ts {
		if x.Name == target+".weight" {
			w = x
		}
	}
	if w == nil {
		t.Fatalf("no %s.weight", target)
	}
	out, in := w.Shape[0], w.Shape[1]
	a := make([]float32, r*in)
	b := make([]float32, out*r)
	for i := range a {
		a[i] = float32(math.Sin(float64(i))) * 0.05
	}
	for i := range b {
		b[i] = float32(math.Cos(float64(i))) * 0.5
	}
	writeAdapter := func(step int, b []float32) {
		dir := filepath.Join(run, fmt.Sprintf("checkpoint-%d", step))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ts := []*tensor.Tensor{
			tensor.FromF32("base_model.model."+target+".lora_A.weight", []int{r, in}, a),
			tensor.FromF32("base_model.model."+target+".lora_B.weight", []int{out, r}, b),
		}
		if err := safetensors.Write(filepath.Join(dir, AdapterFile), ts, nil); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf(`{"peft_type": "LORA", "base_model_name_or_path": "stories15m", "r": %d, "lora_alpha": %g, "target_modules": ["q_proj"]}`, r, alpha)
		for name, body := range map[string]string{AdapterConfigFile: cfg, MarkerFile: "{}"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeAdapter(1, make([]float32, out*r))
	writeAdapter(2, b)
	// The full checkpoint, merged by hand.
	wv, _ := w.F32()
	merged := make([]float32, len(wv))
	for i := range out {
		for j := range in {
			var s float64
			for k := range r {
				s += float64(b[i*r+k]) * float64(a[k*in+j])
			}
			merged[i*in+j] = wv[i*in+j] + float32(alpha/r*s)
		}
	}
	fullRun := t.TempDir()
	saved := e.ts
	e.ts = nil
	for _, x := range saved {
		if x.Name == target+".weight" {
			x = tensor.FromF32(x.Name, x.Shape, merged)
		}
		e.ts = append(e.ts, x)
	}
	e.write(t, fullRun, 2, 0)
	e.ts = saved
	e.write(t, fullRun, 1, 0)

	read := func(run string) []Record {
		w, _ := e.watcher(t, run, filepath.Join(t.TempDir(), "watch.db"), watchSetup{})
		if n, err := w.Poll(context.Background()); err != nil || n != 2 {
			t.Fatalf("%s: recorded %d, %v", run, n, err)
		}
		return w.History()
	}
	ad, full := read(run), read(fullRun)
	if ad[0].Kind != Adapter || full[0].Kind != Full {
		t.Fatalf("kinds: %s, %s", ad[0].Kind, full[0].Kind)
	}
	for i := range 2 {
		for j := range ad[i].Layers[0].Z {
			if g, w := ad[i].Layers[0].Z[j], full[i].Layers[0].Z[j]; !(math.Abs(g-w) <= 1e-4) {
				t.Errorf("checkpoint %d emotion %d: adapter z %g, full z %g", i+1, j, g, w)
			}
		}
	}
	if d := maxAbs(ad[1].Delta[0].Z); !(d > 1e-3) {
		t.Errorf("the adapter changes nothing: max |dz| %g", d)
	}
}

// TestBehaviourPerCheckpoint: a limbic eval scenario's unsteered rate is
// measured on each checkpoint with its Wilson interval, its rollouts kept
// per checkpoint.
func TestBehaviourPerCheckpoint(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	e.write(t, run, 10, 0)
	sc, err := behave.ShippedNamed("give-up-or-try")
	if err != nil {
		t.Fatal(err)
	}
	sc.Rollouts = 4
	db, err := OpenDB(filepath.Join(t.TempDir(), "watch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := New(context.Background(), Options{RunDir: run, DB: db, Pack: e.pack, Probes: fewProbes, Layer: readout.Best,
		Load: (&Loader{Base: e.base}).Load, Scenarios: []*behave.Scenario{sc}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.Poll(context.Background()); err != nil || n != 1 {
		t.Fatalf("poll: %d, %v", n, err)
	}
	bs := w.History()[0].Behaviour
	if len(bs) != 1 {
		t.Fatalf("behaviour: %+v", bs)
	}
	b := bs[0]
	if b.Scenario != "give-up-or-try" || b.Target != "persist" || b.N+b.Unclear != 4 {
		t.Errorf("behaviour %+v: want give-up-or-try, persist, 4 rollouts", b)
	}
	if b.Rate != nil {
		if lo, hi := behave.Wilson(int(math.Round(*b.Rate*float64(b.N))), b.N); !(math.Abs(lo-b.CI[0]) <= 1e-12 && math.Abs(hi-b.CI[1]) <= 1e-12) {
			t.Errorf("CI %v, Wilson gives [%g %g]", b.CI, lo, hi)
		}
	}
	if _, err := os.Stat(filepath.Join(run, "watch-eval", "checkpoint-10", "give-up-or-try.jsonl")); err != nil {
		t.Errorf("rollouts file: %v", err)
	}
}
