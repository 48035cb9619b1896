package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/train/checkpoint"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
)

// TestCurationSmall runs the curation experiment for real at a tiny size
// (stories15M, real fine-tunes, a random pack): each checkpoint is
// evaluated exactly once while its run trains, the outputs are finite and
// shaped as documented, and a second run reuses the data and the
// fine-tunes (no retraining, no re-evaluation) and gives the same numbers.
func TestCurationSmall(t *testing.T) {
	testref.Stories15M(t)
	ctx := context.Background()
	m, err := model.Load(ctx, model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := testpack.Random(testpack.Options{Emotions: []string{"calm", "desperate", "happy"}, D: m.Dim, Layers: m.Layers, BestLayer: 3, Seed: 2, ModelID: m.Name})
	c := curationConfig{Seed: 3, Openings: 5, HeldOut: 2, PerOpening: 4, Keep: 1, MaxTokens: 16,
		Steps: 4, Batch: 2, SeqLen: 24, LR: 5e-4, SaveEvery: 1, Threads: 1, EvalPer: 2, EvalTokens: 8, Rollouts: 3}
	dir := filepath.Join(t.TempDir(), "curation")
	o := curationOpts{Dir: dir, Pack: p, PackPath: "random", Base: m, Poll: 50 * time.Millisecond}
	res, err := runCuration(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

	// Each checkpoint (and the base model, step 0) evaluated exactly once.
	for _, set := range curationSets {
		if !res.Trained[set] {
			t.Errorf("%s: not trained on the first run", set)
		}
		// Checkpoint 1 appears three steps before the end: the watcher,
		// polling every 50 ms, reads it while the trainer still runs.
		if got := res.Live[set]; got < 1 {
			t.Errorf("%s: %d checkpoints evaluated while training, want at least 1", set, got)
		}
		ev := res.Evaluated[set]
		if got, want := len(ev), c.Steps+1; got != want {
			t.Errorf("%s: %d steps evaluated (%v), want %d", set, got, ev, want)
		}
		for s := 0; s <= c.Steps; s++ {
			if got := ev[s]; got != 1 {
				t.Errorf("%s: step %d evaluated %d times, want 1", set, s, got)
			}
		}
		tr := res.Trajectories[set]
		if got, want := len(tr), c.Steps+1; got != want {
			t.Fatalf("%s: trajectory of %d points, want %d", set, got, want)
		}
		for i, pt := range tr {
			if pt.Step != i {
				t.Errorf("%s: trajectory point %d at step %d, want %d", set, i, pt.Step, i)
			}
			for _, v := range []float64{pt.Desperate, pt.Calm, pt.DDesperate, pt.DCalm} {
				if !finite(v) {
					t.Errorf("%s step %d: non-finite readout in %+v", set, pt.Step, pt)
				}
			}
		}
		if tr[0].DDesperate != 0 || tr[0].DCalm != 0 {
			t.Errorf("%s: the baseline's change is %+v, want 0", set, tr[0])
		}
		if _, ok := res.Alerts[set]; !ok {
			t.Errorf("%s: no alerts list", set)
		}
	}
	// Equal sets.
	if a, b := res.Sets["calm_set"], res.Sets["desperate_set"]; a.Docs != b.Docs || a.Docs != (c.Openings-c.HeldOut)*c.Keep {
		t.Errorf("sets of %d and %d documents, want %d each", a.Docs, b.Docs, (c.Openings-c.HeldOut)*c.Keep)
	}
	// Readouts and behaviour for the three models.
	for _, e := range []string{"desperate", "calm"} {
		for _, name := range []string{"base", "calm_set", "desperate_set"} {
			r, ok := res.Readouts[e][name]
			if !ok {
				t.Fatalf("no %s readout for %s", e, name)
			}
			if !(r.N >= 2 && r.N <= c.HeldOut*c.EvalPer) || !finite(r.Mean) || !(r.CI[0] <= r.Mean && r.Mean <= r.CI[1]) {
				t.Errorf("%s %s: %+v, want a finite mean inside its interval over 2..%d continuations", e, name, r, c.HeldOut*c.EvalPer)
			}
			br := res.BaseRead[e][name]
			if br.N != r.N || !finite(br.Mean) || !(br.CI[0] <= br.Mean && br.Mean <= br.CI[1]) {
				t.Errorf("%s %s read by the base: %+v, want a finite mean inside its interval over %d continuations", e, name, br, r.N)
			}
			// The base model's own continuations read by itself twice.
			if name == "base" && !(math.Abs(br.Mean-r.Mean) <= 1e-9) {
				t.Errorf("%s: the base read by itself %v and by the base %v, want the same", e, r.Mean, br.Mean)
			}
		}
	}
	for _, name := range []string{"base", "calm_set", "desperate_set"} {
		b := res.Behaviour[name]
		if b.Scenario != "give-up-or-try" || b.N+b.Unclear != c.Rollouts || !(b.CI[0] >= 0 && b.CI[0] <= b.CI[1] && b.CI[1] <= 1) {
			t.Errorf("%s behaviour %+v, want %d rollouts of give-up-or-try with an interval in [0, 1]", name, b, c.Rollouts)
		}
	}
	// The documented JSON shape.
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Readouts map[string]map[string]struct {
			Mean *float64  `json:"mean"`
			CI   []float64 `json:"ci"`
		} `json:"readouts"`
		Behaviour    map[string]any `json:"behaviour"`
		Trajectories map[string]any `json:"trajectories"`
		Alerts       map[string]any `json:"alerts"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	if r := j.Readouts["desperate"]["calm_set"]; r.Mean == nil || len(r.CI) != 2 || len(j.Behaviour) != 3 || len(j.Trajectories) != 2 || len(j.Alerts) != 2 {
		t.Errorf("JSON shape: %s", raw)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<svg") || !strings.Contains(string(page), "desperate_set") {
		t.Error("the report has no chart or no desperate_set")
	}
	if _, err := os.Stat(filepath.Join(dir, "result.json")); err != nil {
		t.Error(err)
	}

	// The second run reuses everything it can.
	last := filepath.Join(checkpoint.Dir(filepath.Join(dir, "tune", "desperate_set"), c.Steps), checkpoint.StateFile)
	before, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	again, err := runCuration(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if !again.DataReused {
		t.Error("second run: the data was rebuilt")
	}
	for _, set := range curationSets {
		if again.Trained[set] {
			t.Errorf("second run: %s retrained", set)
		}
		if n := len(again.Evaluated[set]); n != 0 {
			t.Errorf("second run: %s evaluated %d checkpoints again (%v)", set, n, again.Evaluated[set])
		}
		if !reflect.DeepEqual(again.Trajectories[set], res.Trajectories[set]) {
			t.Errorf("second run: %s trajectory %+v, want the stored %+v", set, again.Trajectories[set], res.Trajectories[set])
		}
	}
	after, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second run rewrote %s", last)
	}
	if !reflect.DeepEqual(again.Readouts, res.Readouts) || !reflect.DeepEqual(again.BaseRead, res.BaseRead) || !reflect.DeepEqual(again.Behaviour, res.Behaviour) {
		t.Errorf("second run: readouts %+v behaviour %+v, want the first run's %+v %+v", again.Readouts, again.Behaviour, res.Readouts, res.Behaviour)
	}
	// Other settings over the same directory are refused.
	c2 := c
	c2.Steps = 6
	if _, err := runCuration(ctx, c2, o); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("other settings over the same directory: %v", err)
	}
}

// TestCurationConfigRefusals: bad settings get a clear error naming the flag.
func TestCurationConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		edit func(*curationConfig)
		want string
	}{
		{func(c *curationConfig) { c.Steps = 0 }, "--steps"},
		{func(c *curationConfig) { c.Keep = 5 }, "--keep"},
		{func(c *curationConfig) { c.HeldOut = 24 }, "--held-out"},
		{func(c *curationConfig) { c.Openings = 99 }, "--openings"},
		{func(c *curationConfig) { c.LR = math.NaN() }, "--lr"},
		{func(c *curationConfig) { c.SaveEvery = 100 }, "--save-every"},
		{func(c *curationConfig) { c.EvalPer = 1 }, "--eval-per"},
	} {
		c := defaultCuration
		tc.edit(&c)
		err := c.check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("check() = %v, want an error naming %s", err, tc.want)
		}
	}
	if err := defaultCuration.check(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	// A pack without desperate is refused before any work, naming the flag.
	p := testpack.Random(testpack.Options{Emotions: []string{"calm", "happy"}, D: 8, Layers: 2, BestLayer: 1, Seed: 1})
	dir := filepath.Join(t.TempDir(), "c")
	_, err := runCuration(context.Background(), defaultCuration, curationOpts{Dir: dir, Pack: p, PackPath: "p.safetensors"})
	if err == nil || !strings.Contains(err.Error(), "no desperate vector") || !strings.Contains(err.Error(), "--vectors") {
		t.Errorf("a pack without desperate: %v", err)
	}
	if _, statErr := os.Stat(dir); statErr == nil {
		t.Errorf("the refused run made %s", dir)
	}
}
