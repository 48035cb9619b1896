package pipeline

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/limbic-dev/limbic/internal/browser"
	"github.com/limbic-dev/limbic/science/experiment"
)

// checkReportInBrowser opens a run's report in headless Chromium: no
// request besides the file, no script or console error, every SVG drawn
// with a size and marks, the feel figure with whiskers, the dose figure
// with one band per template, and limbic's version shown.
func checkReportInBrowser(t *testing.T, path string) {
	t.Helper()
	bctx := browser.Start(t)
	ctx, w := browser.Open(t, bctx, "file://"+filepath.ToSlash(path))
	js, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		empty: [...document.querySelectorAll("svg")].filter(s => { const r = s.getBoundingClientRect();
			return !(r.width > 0 && r.height > 0) || s.querySelectorAll("path,line,rect,circle,polygon,polyline").length === 0; }).length,
		svgs: document.querySelectorAll("svg").length,
		feelBars: document.querySelectorAll("#feel ~ .figure g.figure-bar").length,
		whiskers: document.querySelectorAll("g.figure-bar g.whisker").length,
		doseCharts: document.querySelectorAll("g.figure-line").length,
		bands: document.querySelectorAll("g.figure-line polygon.band").length,
		text: document.body.innerText})`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Empty, SVGs, FeelBars, Whiskers, DoseCharts, Bands int
		Text                                               string
	}
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	reqs, problems := w.Snapshot()
	for _, r := range reqs {
		if !strings.HasPrefix(r, "file://") {
			t.Errorf("the report requested %s", r)
		}
	}
	if len(problems) > 0 {
		t.Errorf("problems: %v", problems)
	}
	if got.Empty != 0 || got.SVGs < 8 {
		t.Errorf("%d of %d SVGs empty or without size", got.Empty, got.SVGs)
	}
	if got.FeelBars != 1 || got.Whiskers == 0 {
		t.Errorf("feel figure: %d bar charts, %d whiskers; want 1 with whiskers", got.FeelBars, got.Whiskers)
	}
	if got.DoseCharts == 0 || got.Bands != got.DoseCharts {
		t.Errorf("dose figure: %d charts, %d bands; want a band on each", got.DoseCharts, got.Bands)
	}
	if !strings.Contains(got.Text, "limbic "+Version) {
		t.Errorf("the report does not show limbic %s", Version)
	}
}

// TestSectionFigures checks the feel and dose figures against planted
// results: a bar per emotion and direction at the mean with a whisker over
// the prompts, a curve per template with a band over the names.
func TestSectionFigures(t *testing.T) {
	feel := &experiment.FeelResult{Emotions: []string{"happy", "sad"}, Strength: 0.5, Layers: []int{3},
		Prompts: []experiment.FeelPrompt{{Name: "he felt", Text: "He felt"}, {Name: "she felt", Text: "She felt"}},
		Plus:    [][]float64{{1, 0}, {0, 2}}, DiagonalRank: []int{0, 0},
		Minus:    [][]float64{{-1, 0}, {0, -3}},
		OwnPlus:  [][]float64{{0.5, 1.5}, {1, 3}},
		OwnMinus: [][]float64{{-1.25, -0.75}, {-4, -2}}}
	dose := &experiment.DoseResult{Layer: 3, Metric: "z", Templates: []experiment.DoseCurve{{
		DoseTemplate: experiment.DoseTemplate{Name: "lost-dog-days", Emotion: "sad", ExpectedSign: 1, Text: "{NAME} {X}",
			Values: []string{"one", "two", "three"}, X: []float64{1, 2, 3}, Names: []string{"Lily", "Tom"}},
		Readout: []float64{0.5, 1, 1.5}, ByName: [][]float64{{0, 1}, {0.5, 1.5}, {1, 2}}}}}
	secs := Sections(feel, dose, nil)
	if len(secs) != 2 {
		t.Fatalf("%d sections, want 2", len(secs))
	}
	bar := string(secs[0].Figure)
	for _, want := range []string{"happy, added (+): 1 (0.5 … 1.5)", "sad, added (+): 2 (1 … 3)",
		"happy, subtracted (−): -1 (-1.25 … -0.75)", "sad, subtracted (−): -3 (-4 … -2)"} {
		if !strings.Contains(bar, want) {
			t.Errorf("feel figure lacks the bar %q", want)
		}
	}
	if got, want := strings.Count(bar, `class="whisker"`), 4; got != want {
		t.Errorf("feel figure: %d whiskers, want %d", got, want)
	}
	line := string(secs[1].Figure)
	for _, want := range []string{"lost-dog-days: sad (expected +1)", "sad at two: 1", "sad readout (z)"} {
		if !strings.Contains(line, want) {
			t.Errorf("dose figure lacks %q", want)
		}
	}
	band := regexp.MustCompile(`<polygon class="band" points="([^"]*)"`).FindStringSubmatch(line)
	if band == nil {
		t.Fatal("dose figure has no band")
	}
	if got, want := len(strings.Fields(band[1])), 6; got != want {
		t.Errorf("band has %d corners, want %d (min and max at 3 values)", got, want)
	}
	// A result from before the per-name and per-prompt values: figures
	// without band or whiskers, no failure.
	feel.OwnPlus, feel.OwnMinus, dose.Templates[0].ByName = nil, nil, nil
	secs = Sections(feel, dose, nil)
	if f := string(secs[0].Figure); f == "" || strings.Contains(f, `class="whisker"`) {
		t.Error("old feel result: want bars without whiskers")
	}
	if f := string(secs[1].Figure); f == "" || strings.Contains(f, `class="band"`) {
		t.Error("old dose result: want a curve without a band")
	}
}
