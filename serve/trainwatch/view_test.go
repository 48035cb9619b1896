package trainwatch

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/serve/monitor"
)

// plantedHistory: "b" drifts most (max |dz| 2 at the middle checkpoint, back
// to 0.5 at the end), "c" second (1 at the end), "a" not at all.
func plantedHistory() []Record {
	emos := []string{"a", "b", "c"}
	zs := [][]float64{{0, 0, 0}, {0, 2, 0.5}, {0, 0.5, 1}}
	s := newSeries(nil)
	for i, z := range zs {
		s.add(Result{Step: 100 * (i + 1), Probes: 3, Layers: []Readout{{Layer: 2, Emotions: emos, Z: z, Cos: []float64{0.1, 0.2, 0.3}, Proj: z}}})
	}
	return s.history
}

func TestChangesRankByLargestDrift(t *testing.T) {
	ch := Changes(plantedHistory(), 2)
	var order []string
	for _, c := range ch {
		order = append(order, c.Emotion)
	}
	if got, want := strings.Join(order, ","), "b,c,a"; got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
	if !(math.Abs(ch[0].MaxAbs-2) <= 1e-12) || !(math.Abs(ch[0].DZ-0.5) <= 1e-12) || !(math.Abs(ch[1].DZ-1) <= 1e-12) {
		t.Errorf("b: max %g dz %g; c: dz %g; want 2, 0.5, 1", ch[0].MaxAbs, ch[0].DZ, ch[1].DZ)
	}
}

func TestSectionMarksAlertsAndRenders(t *testing.T) {
	h := plantedHistory()
	alerts := []Alert{{Step: 200, Event: monitor.Event{Rule: "b-drift", Kind: monitor.EventFiring, Pos: 200}},
		{Step: 300, Event: monitor.Event{Rule: "b-drift", Kind: monitor.EventResolved, Pos: 300}}}
	rate := 0.5
	h[2].Behaviour = []Behaviour{{Scenario: "give-up-or-try", Target: "persist", Rate: &rate, CI: [2]float64{0.2, 0.8}, N: 8}}
	sec := Section(h, alerts, 2, 2)
	if len(sec.Rows) != 3 || sec.Rows[0][0].Text != "b" || sec.Rows[0][3].Text != "+0.500" {
		t.Errorf("table rows: %+v", sec.Rows)
	}
	fig := string(sec.Figure)
	// Two series (b and c, the top 2), one alert mark (firing only).
	if got := strings.Count(fig, "<polyline"); got != 3 {
		t.Errorf("figure has %d lines, want 3 (two emotions, one behaviour rate)", got)
	}
	if got := strings.Count(fig, `class="band"`); got != 1 {
		t.Errorf("figure has %d bands, want 1 (the behaviour rate's interval)", got)
	}
	if got := strings.Count(fig, ">b-drift<"); got != 1 {
		t.Errorf("figure has %d alert labels, want 1", got)
	}
	if !strings.Contains(sec.Note, "b-drift at step 200") {
		t.Errorf("note: %s", sec.Note)
	}
	var buf bytes.Buffer
	if err := report.WriteSections(&buf, "t", "dev", []report.Section{sec}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Training: emotion readouts per checkpoint") {
		t.Error("page lacks the section")
	}
}

// TestDefaultRules: only the pack's emotions get a rule, and the desperate
// drift fires on the third checkpoint in a row more than 1 z above the
// baseline.
func TestDefaultRules(t *testing.T) {
	if got := DefaultRules([]string{"happy"}); len(got) != 0 {
		t.Errorf("a pack without desperate and calm: %d rules", len(got))
	}
	rules := DefaultRules([]string{"calm", "desperate", "happy"})
	rs, err := monitor.NewRuleSet(rules, 2)
	if err != nil || len(rules) != 2 {
		t.Fatalf("%d rules: %v", len(rules), err)
	}
	s := newSeries(rs)
	var fired []int
	for i, z := range []float64{0, 1.5, 1.5, 1.5, 1.5} {
		_, evs := s.add(Result{Step: i, Layers: []Readout{{Layer: 2, Emotions: []string{"calm", "desperate"}, Z: []float64{0, z}, Cos: []float64{0, 0}, Proj: []float64{0, 0}}}})
		for _, e := range evs {
			if e.Kind == monitor.EventFiring {
				fired = append(fired, e.Pos)
				if e.Rule != "desperate-drift" {
					t.Errorf("rule %s fired", e.Rule)
				}
			}
		}
	}
	if len(fired) != 1 || fired[0] != 3 {
		t.Errorf("fired at %v, want [3]", fired)
	}
}

// TestRecordBase: the base model recorded as step 0 becomes the baseline (a
// checkpoint with the base's weights reads dz = 0 against it), once.
func TestRecordBase(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	e.write(t, run, 10, 0)
	w, _ := e.watcher(t, run, t.TempDir()+"/watch.db", watchSetup{})
	ok, err := w.RecordBase(context.Background(), &Loaded{Model: e.base.Transformer, Tok: e.base.Tok}, "stories15m")
	if err != nil || !ok {
		t.Fatalf("RecordBase: %v, %v", ok, err)
	}
	if ok, err := w.RecordBase(context.Background(), &Loaded{Model: e.base.Transformer, Tok: e.base.Tok}, "stories15m"); err != nil || ok {
		t.Fatalf("second RecordBase: %v, %v; want false, nil", ok, err)
	}
	if _, err := w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := w.History()
	if len(h) != 2 || h[0].Kind != Base || h[0].Step != 0 || h[1].BaselineStep != 0 {
		t.Fatalf("history: %d records, first %s step %d, baseline of the second %d", len(h), h[0].Kind, h[0].Step, h[1].BaselineStep)
	}
	if d := maxAbs(h[1].Delta[0].Z); !(d <= 1e-5) {
		t.Errorf("the base's own weights read max |dz| %g against the base, want 0", d)
	}
}
