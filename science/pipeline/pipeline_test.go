package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/experiment"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/vecpack"
)

var (
	once   sync.Once
	shared *model.Model
	lerr   error
)

func embedded(t testing.TB) *model.Model {
	t.Helper()
	testref.Stories15M(t)
	once.Do(func() { shared, lerr = model.Load(context.Background(), model.Default, model.LoadOptions{}) })
	if lerr != nil {
		t.Fatal(lerr)
	}
	return shared
}

func tiny(dir string) Config {
	return Config{Dir: dir, Emotions: []string{"happy", "sad", "scared"}, Topics: catalog.ChildTopics()[:3],
		NeutralTopics: catalog.ChildNeutralTopics()[:3], PerTopic: 3, NeutralPerTopic: 2, MaxTokens: 24, Batch: 8, Seed: 5, Experiments: true}
}

// TestTinyRun runs the whole pipeline on the embedded model with a tiny
// configuration and checks every output.
func TestTinyRun(t *testing.T) {
	m := embedded(t)
	dir := t.TempDir()
	res, err := Run(context.Background(), m, tiny(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{StoriesFile, NeutralFile, PackFile, HeldOutFile, "report.html", "report.json", "experiments/feel.json", "experiments/dose.json", "experiments/implicit.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if res.Stories.Planned != 27 || res.Neutral.Planned != 6 {
		t.Errorf("planned %d stories and %d neutral texts, want 27 and 6", res.Stories.Planned, res.Neutral.Planned)
	}
	var doc struct {
		Core *struct {
			Top1, Top5       float64
			PC1SignAgreement *float64 `json:"pc1_sign_agreement"`
		} `json:"core"`
		BestLayer   *int                       `json:"best_layer"`
		Layers      []json.RawMessage          `json:"layers"`
		Experiments map[string]json.RawMessage `json:"experiments"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Core == nil || doc.BestLayer == nil || len(doc.Layers) != m.Layers || len(doc.Experiments) != 3 {
		t.Fatalf("report.json: %s", b[:min(400, len(b))])
	}
	p, err := vecpack.Read(filepath.Join(dir, PackFile))
	if err != nil {
		t.Fatal(err)
	}
	if p.Meta.BestLayer != *doc.BestLayer || p.Meta.Model.Hash == "" || len(p.Meta.Emotions) != 3 {
		t.Errorf("pack: best layer %d (report %d), hash %q, emotions %v", p.Meta.BestLayer, *doc.BestLayer, p.Meta.Model.Hash, p.Meta.Emotions)
	}
	if res.Feel == nil || len(res.Feel.Plus) != 3 {
		t.Errorf("feel %+v", res.Feel)
	}
	checkReportInBrowser(t, filepath.Join(dir, "report.html"))
	// The hand-written stories of the run's emotions are scored at every layer.
	hw, nHand := res.Validation.Handwritten, 0
	for _, s := range catalog.Handwritten() {
		if slices.Contains(tiny(dir).Emotions, s.Emotion) {
			nHand++
		}
	}
	if hw == nil || hw.Stories != nHand || hw.Stories+hw.Skipped != len(catalog.Handwritten()) || len(hw.Layers) != len(res.Validation.Layers) {
		t.Errorf("hand-written score %+v, want %d stories at %d layers", hw, nHand, len(res.Validation.Layers))
	}
	// A second run writes no new stories and gives the same numbers.
	again, err := Run(context.Background(), m, tiny(dir))
	if err != nil {
		t.Fatal(err)
	}
	if again.Stories.Written != 0 || again.Validation.Core.Top1 != res.Validation.Core.Top1 {
		t.Errorf("rerun wrote %d stories; top-1 %v then %v", again.Stories.Written, res.Validation.Core.Top1, again.Validation.Core.Top1)
	}
}

// TestInterruptedStoriesResume cancels story generation part-way; the next
// run completes the plan without duplicating or losing stories.
func TestInterruptedStoriesResume(t *testing.T) {
	m := embedded(t)
	dir := t.TempDir()
	cfg := tiny(dir)
	cfg.Batch = 2
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Progress = func(stage string, done, total int) {
		if stage == "stories" && done >= 6 {
			cancel()
		}
	}
	if _, _, err := Stories(ctx, m, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	cfg.Progress = nil
	emo, _, err := Stories(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if emo.Skipped < 6 || emo.Skipped+emo.Written != 27 {
		t.Errorf("resume: %+v", emo)
	}
	seen := map[string]bool{}
	n := 0
	err = stories.Read(filepath.Join(dir, StoriesFile), func(s *stories.Story) error {
		if seen[s.ID] {
			t.Errorf("story %s twice", s.ID)
		}
		seen[s.ID] = true
		n++
		return nil
	})
	if err != nil || n != 27 {
		t.Errorf("%d stories, %v", n, err)
	}
}

func TestBadInputs(t *testing.T) {
	m := embedded(t)
	dir := t.TempDir()
	// An empty story file.
	os.WriteFile(filepath.Join(dir, StoriesFile), nil, 0o644)
	if _, err := Extract(context.Background(), m, tiny(dir)); err == nil {
		t.Error("extraction from an empty story file succeeded")
	}
	// A vector pack for another model: wrong width.
	if _, err := Run(context.Background(), m, tiny(filepath.Join(dir, "ok"))); err != nil {
		t.Fatal(err)
	}
	p, _ := vecpack.Read(filepath.Join(dir, "ok", PackFile))
	p.Meta.Model.DModel = 576
	for i := range p.Layers {
		p.Layers[i].Raw = append(p.Layers[i].Raw, p.Layers[i].Raw...)
		p.Layers[i].Denoised = append(p.Layers[i].Denoised, p.Layers[i].Denoised...)
		p.Layers[i].Center = append(p.Layers[i].Center, p.Layers[i].Center...)
	}
	if err := vecpack.Write(filepath.Join(dir, "ok", PackFile), p); err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(m, filepath.Join(dir, "ok")); err == nil || !strings.Contains(err.Error(), "made for model") {
		t.Errorf("foreign pack: %v", err)
	}
}

// TestSteeredExperimentsApart: a steered result lives beside the baseline,
// and the report shows both, the steered one labelled as such.
func TestSteeredExperimentsApart(t *testing.T) {
	dir := t.TempDir()
	base := &experiment.DoseResult{Layer: 3, Metric: "z", Monotone: 5}
	steered := &experiment.DoseResult{Steering: []string{"calm=0.1@-4:-1:generated"}, Layer: 3, Metric: "z", Monotone: 1}
	for _, r := range []*experiment.DoseResult{base, steered} {
		if err := writeJSON(filepath.Join(dir, ExpDir, experiment.ResultFile("dose", r.Steering)), r); err != nil {
			t.Fatal(err)
		}
	}
	secs, err := experimentSections(filepath.Join(dir, ExpDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 {
		t.Fatalf("%d sections, want the baseline and the steered dose", len(secs))
	}
	if got := secs[0].JSON.(*experiment.DoseResult); got.Monotone != 5 || len(secs[0].Steering) != 0 || strings.Contains(secs[0].Title, "steered") {
		t.Errorf("first section %q (monotone %d, steering %v), want the unlabelled baseline with 5", secs[0].Title, got.Monotone, secs[0].Steering)
	}
	s := secs[1]
	if got := s.JSON.(*experiment.DoseResult); got.Monotone != 1 || !strings.Contains(s.Title, "steered (calm=0.1@-4:-1:generated)") ||
		!strings.Contains(s.Note, "steered with calm=0.1@-4:-1:generated") || s.ID == secs[0].ID {
		t.Errorf("steered section: id %q title %q note %q (monotone %d)", s.ID, s.Title, s.Note, got.Monotone)
	}
}

func TestResultFile(t *testing.T) {
	tests := []struct {
		steering []string
		want     string
	}{
		{nil, "dose.json"},
		{[]string{"calm=0.1@3"}, "dose.steer-calm=0.1@3.json"},
	}
	for _, tt := range tests {
		if got := experiment.ResultFile("dose", tt.steering); got != tt.want {
			t.Errorf("ResultFile(dose, %q) = %q, want %q", tt.steering, got, tt.want)
		}
	}
	seen := map[string]string{}
	for _, sp := range []string{"calm=0.1:generated", "calm=0.1_generated", "calm=0.1@-4:-1", "calm=0.1@-4_-1", "x/../y=1", strings.Repeat("calm=0.1@3;", 40)} {
		f := experiment.ResultFile("dose", []string{sp})
		if other, dup := seen[f]; dup || strings.ContainsAny(f, "/\\: ") || len(f) > 120 {
			t.Errorf("ResultFile(%q) = %q (also for %q)", sp, f, other)
		}
		seen[f] = sp
	}
}
