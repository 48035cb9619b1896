package telemetry

import (
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
)

const (
	dim     = 16
	nLayers = 4
	layer   = 2 // the pack's best layer: telemetry and rules read it
)

func testMonitor(t *testing.T, rules string) *Monitor {
	t.Helper()
	pack := testpack.Random(testpack.Options{Emotions: []string{"happy", "sad", "calm"}, D: dim, Layers: nLayers,
		Seed: 5, ModelID: "test", BestLayer: layer, Norm: testpack.Constant(8)})
	var rs []monitor.Rule
	if rules != "" {
		var err error
		if rs, err = monitor.ParseRules([]byte(rules), "yaml"); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(pack, Options{NLayers: nLayers, Dim: dim, Rules: rs})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run drives a sequence the way a model does, without a model: a prefill of
// promptLen positions, then one decode position per token, each running the
// hooks of every layer on a residual of 3·û_happy (happy z = 3 unless
// steered); Advance follows every forward. It returns the steps.
func run(t *testing.T, m *Monitor, promptLen, tokens int) (*Sequence, []Step) {
	t.Helper()
	hs := &hook.Set{}
	seq, err := m.NewSequence(hs, SequenceOptions{Layer: -1, PromptLen: promptLen})
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.Pack().Unit(layer, "happy", vecpack.Denoised)
	if err != nil {
		t.Fatal(err)
	}
	forward := func(pos, rows int) {
		for l := 0; l < nLayers; l++ {
			data := make([]float32, rows*dim)
			for i := range data {
				data[i] = 3 * u[i%dim]
			}
			hs.Run(&hook.Act{Point: hook.Block(l, hook.ResidPost), Pos: pos, Rows: rows, Dim: dim, Data: data})
		}
	}
	var steps []Step
	forward(0, promptLen)
	for n := 0; n < tokens; n++ {
		st := seq.Advance(promptLen - 1 + n)
		steps = append(steps, st)
		if st.Stop {
			break
		}
		forward(promptLen+n, 1)
	}
	return seq, steps
}

// TestRegulateSteersTheLease: a regulate rule on happy z > 2 with a
// counter-steer happy=-0.5 (0.5 · norm 8 = 4 in z) at the read layer fires
// at the first assistant position (2), steers exactly its lease: the next
// position reads 3-4 = -1 and resolves it (the lease ends there), the one
// after is unsteered (3) and fires again, and so on. The prompt is never
// steered.
func TestRegulateSteersTheLease(t *testing.T) {
	m := testMonitor(t, `- {name: calm-down, emotion: happy, op: ">", threshold: 2, action: {type: regulate, steer: "happy=-0.5@2", tokens: 2}}`)
	happy, _ := m.EmotionIndex("happy")
	_, steps := run(t, m, 3, 7)
	var pos []int
	var z []float64
	var alerts []string
	for _, st := range steps {
		for _, p := range st.Points {
			pos = append(pos, p.Pos)
			z = append(z, float64(p.Values[happy]))
		}
		for _, e := range st.Alerts {
			alerts = append(alerts, string(e.Kind)+"@"+strconv.Itoa(e.Pos))
		}
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(pos, want) {
		t.Fatalf("points at %v, want %v", pos, want)
	}
	want := []float64{3, 3, 3, -1, 3, -1, 3, -1, 3}
	for i := range want {
		if d := z[i] - want[i]; !(d >= -1e-4 && d <= 1e-4) {
			t.Errorf("happy z at %d = %.5f, want %v", pos[i], z[i], want[i])
		}
	}
	if got, want := strings.Join(alerts, " "), "firing@2 resolved@3 firing@4 resolved@5 firing@6 resolved@7 firing@8"; got != want {
		t.Errorf("alerts %s, want %s", got, want)
	}
}

// TestStopRule: a stop rule with for: 1 fires at the second assistant
// position; Advance reports Stop there and StoppedBy names the rule.
func TestStopRule(t *testing.T) {
	m := testMonitor(t, `- {name: halt, emotion: happy, op: ">", threshold: 2, for: 1, action: {type: stop}}`)
	seq, steps := run(t, m, 3, 10)
	if got, want := len(steps), 2; got != want {
		t.Fatalf("%d steps, want %d (stopped at the second)", got, want)
	}
	if steps[0].Stop || !steps[1].Stop {
		t.Errorf("stop %v then %v, want false then true", steps[0].Stop, steps[1].Stop)
	}
	if got, want := seq.StoppedBy(), "halt"; got != want {
		t.Errorf("StoppedBy %q, want %q", got, want)
	}
	if evs := seq.Finish(3); len(evs) != 1 || evs[0].Kind != monitor.EventResolved || evs[0].Reason != monitor.ReasonEnded {
		t.Errorf("Finish: %+v, want the firing alert resolved (ended)", evs)
	}
}

// TestNoRulesReadsOnly: without rules the sequence reports points and the
// readout of the sampled-from position, and no alerts.
func TestNoRulesReadsOnly(t *testing.T) {
	m := testMonitor(t, "")
	_, steps := run(t, m, 2, 3)
	for i, st := range steps {
		if len(st.Alerts) != 0 || st.Stop || st.Scores == nil {
			t.Errorf("step %d: %d alerts, stop %v, scores %v", i, len(st.Alerts), st.Stop, st.Scores != nil)
		}
	}
	if got, want := len(steps[0].Points), 2; got != want {
		t.Errorf("first step: %d points, want %d (the prompt)", got, want)
	}
}

// TestImportsNoHTTP: the package is usable without HTTP: it imports neither
// net/http nor serve/api, only the standard library, engine, science and
// serve/monitor.
func TestImportsNoHTTP(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) == 0 {
		t.Fatal("go list printed no imports")
	}
	const mod = "github.com/limbic-dev/limbic/"
	for _, imp := range imports {
		rest, ours := strings.CutPrefix(imp, mod)
		switch {
		case imp == "net/http" || strings.HasPrefix(imp, "net/http/"):
			t.Errorf("imports %s", imp)
		case !ours && strings.Contains(strings.Split(imp, "/")[0], "."):
			t.Errorf("imports %s, outside the standard library and this module", imp)
		case ours && !strings.HasPrefix(rest, "engine/") && !strings.HasPrefix(rest, "science/") && rest != "serve/monitor":
			t.Errorf("imports %s: want only engine, science and serve/monitor", imp)
		}
	}
}
