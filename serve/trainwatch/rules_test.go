package trainwatch

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/telemetry"
)

// A scenario: rules, per-checkpoint mean readouts at the main layer, and
// the alert events expected in the store, in order.
//
//	name: what it shows
//	rules: [...]                 # serve/monitor rules (stats z, cos, proj, dz, dcos, dproj)
//	checkpoints:
//	  - {step: 100, z: {desperate: 0.2}, cos: {...}, proj: {...}}
//	expect:
//	  - {rule: r, kind: firing, step: 400, value: 1.4, reason: cleared}
//
// Every scenario runs once straight through and once with the store closed
// and the rules restored from it after each checkpoint: both must store
// exactly the expected events.
type ckScenario struct {
	Name        string    `yaml:"name"`
	Rules       yaml.Node `yaml:"rules"`
	Checkpoints []struct {
		Step int                `yaml:"step"`
		Z    map[string]float64 `yaml:"z"`
		Cos  map[string]float64 `yaml:"cos"`
		Proj map[string]float64 `yaml:"proj"`
	} `yaml:"checkpoints"`
	Expect []struct {
		Rule   string  `yaml:"rule"`
		Kind   string  `yaml:"kind"`
		Step   int     `yaml:"step"`
		Value  float64 `yaml:"value"`
		Reason string  `yaml:"reason"`
	} `yaml:"expect"`
}

const scenarioLayer = 3

func TestCheckpointRuleScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var sc ckScenario
			dec := yaml.NewDecoder(strings.NewReader(string(b)))
			dec.KnownFields(true)
			if err := dec.Decode(&sc); err != nil {
				t.Fatalf("scenario: %v", err)
			}
			if len(sc.Checkpoints) == 0 {
				t.Fatal("scenario has no checkpoints")
			}
			ry, err := yaml.Marshal(&sc.Rules)
			if err != nil {
				t.Fatal(err)
			}
			rules, err := monitor.ParseRules(ry, "yaml")
			if err != nil {
				t.Fatalf("rules: %v", err)
			}
			rs, err := monitor.NewRuleSet(rules, scenarioLayer)
			if err != nil {
				t.Fatal(err)
			}
			results := scenarioResults(t, &sc)
			for _, restart := range []bool{false, true} {
				got := runStored(t, rs, results, restart)
				name := map[bool]string{false: "straight", true: "restarted after each checkpoint"}[restart]
				for i := 0; i < max(len(got), len(sc.Expect)); i++ {
					switch {
					case i >= len(got):
						t.Errorf("%s: event %d: missing, want %+v", name, i, sc.Expect[i])
					case i >= len(sc.Expect):
						t.Errorf("%s: event %d: unexpected %s", name, i, describeAlert(got[i]))
					default:
						w, g := sc.Expect[i], got[i]
						if g.Event.Rule != w.Rule || string(g.Event.Kind) != w.Kind || g.Step != w.Step || g.Event.Pos != w.Step ||
							!(math.Abs(g.Event.Value-w.Value) <= 1e-9) || (w.Reason != "" && g.Event.Reason != w.Reason) {
							t.Errorf("%s: event %d: got %s, want %+v", name, i, describeAlert(g), w)
						}
					}
				}
			}
		})
	}
}

func describeAlert(a Alert) string {
	return fmt.Sprintf("{rule: %s, kind: %s, step: %d, value: %.6g, reason: %s}", a.Event.Rule, a.Event.Kind, a.Step, a.Event.Value, a.Event.Reason)
}

// scenarioResults builds the checkpoints' results at scenarioLayer.
func scenarioResults(t *testing.T, sc *ckScenario) []Result {
	var emos []string
	for _, c := range sc.Checkpoints {
		for _, m := range []map[string]float64{c.Z, c.Cos, c.Proj} {
			for e := range m {
				if !slices.Contains(emos, e) {
					emos = append(emos, e)
				}
			}
		}
	}
	slices.Sort(emos)
	var out []Result
	for _, c := range sc.Checkpoints {
		ro := Readout{Layer: scenarioLayer, Emotions: emos, Z: make([]float64, len(emos)), Cos: make([]float64, len(emos)), Proj: make([]float64, len(emos)), ZStd: make([]float64, len(emos))}
		for i, e := range emos {
			ro.Z[i], ro.Cos[i], ro.Proj[i] = c.Z[e], c.Cos[e], c.Proj[e]
		}
		out = append(out, Result{Step: c.Step, Dir: fmt.Sprintf("checkpoint-%d", c.Step), Kind: Full, Probes: 1, Layers: []Readout{ro}, Time: time.Unix(1700000000, 0)})
	}
	return out
}

// runStored records the results as the watcher does (Record with the
// series' events) and returns the stored alerts. With restart, the store is
// closed and the series restored from it before each checkpoint.
func runStored(t *testing.T, rs *monitor.RuleSet, results []Result, restart bool) []Alert {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "watch.db")
	db, err := OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	ser := newSeries(rs)
	for _, r := range results {
		if restart {
			db.Close()
			if db, err = OpenDB(path); err != nil {
				t.Fatal(err)
			}
			if ser, err = restore(ctx, db, rs, time.Unix(1700000000, 0)); err != nil {
				t.Fatal(err)
			}
		}
		_, evs := ser.add(r)
		if _, err := db.Record(ctx, r, evs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Alerts(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRecordTwiceFails: a step is recorded once; a second Record of it is
// an error and stores none of its alerts.
func TestRecordTwiceFails(t *testing.T) {
	ctx := context.Background()
	db, err := OpenDB(filepath.Join(t.TempDir(), "watch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := Result{Step: 7, Dir: "checkpoint-7", Kind: Full, Time: time.Now()}
	if _, err := db.Record(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	ev := monitor.Event{Rule: "x", Kind: monitor.EventFiring, Pos: 7}
	if _, err := db.Record(ctx, r, []monitor.Event{ev}); err == nil {
		t.Fatal("recording step 7 twice: no error")
	}
	as, err := db.Alerts(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 0 {
		t.Errorf("alerts after the failed Record: got %d, want 0", len(as))
	}
}

// TestDeltaStatsParse: dz, dcos and dproj parse as rule stats; an unknown
// stat is still an error.
func TestDeltaStatsParse(t *testing.T) {
	for _, st := range []string{"dz", "dcos", "dproj"} {
		rules, err := monitor.ParseRules([]byte(fmt.Sprintf("- {name: a, emotion: calm, stat: %s, op: '>', threshold: 1}", st)), "yaml")
		if err != nil {
			t.Fatalf("stat %s: %v", st, err)
		}
		if !rules[0].Stat.IsDelta() {
			t.Errorf("stat %s: IsDelta false", st)
		}
	}
	if _, err := monitor.ParseRules([]byte("- {name: a, emotion: calm, stat: dq, op: '>', threshold: 1}"), "yaml"); err == nil {
		t.Error("stat dq: no error")
	}
}

// TestDeltaStatsRejectedByServer: the server's token telemetry refuses a
// rule on a change between checkpoints (it would never see a value) and
// accepts the same rule on z.
func TestDeltaStatsRejectedByServer(t *testing.T) {
	p := testpack.Random(testpack.Options{Emotions: []string{"calm"}, D: 8, Layers: 4, BestLayer: 2})
	for _, tc := range []struct {
		stat string
		ok   bool
	}{{"z", true}, {"dz", false}, {"dcos", false}} {
		rules, err := monitor.ParseRules([]byte(fmt.Sprintf("- {name: a, emotion: calm, stat: %s, op: '>', threshold: 1}", tc.stat)), "yaml")
		if err != nil {
			t.Fatal(err)
		}
		_, err = telemetry.New(p, telemetry.Options{NLayers: 4, Dim: 8, Rules: rules})
		if got := err == nil; got != tc.ok {
			t.Errorf("stat %s: telemetry.New error %v, want ok=%v", tc.stat, err, tc.ok)
		}
	}
}
