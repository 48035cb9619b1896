package behave

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func testEnv(t *testing.T) Env {
	t.Helper()
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b := model.NewBatcher(m.Transformer, model.BatcherOptions{MaxSeqs: 4})
	t.Cleanup(b.Close)
	pack := testpack.Random(testpack.Options{Emotions: []string{"happy", "angry"}, D: m.Dim, Layers: m.Layers, Seed: 1, BestLayer: 3,
		Norm: func(int) float64 { return 4 }})
	return Env{Model: m, Batcher: b, Pack: pack, Kind: vecpack.Denoised, ModelID: "stories15m", Parallel: 8}
}

func tinyScenario(t *testing.T) *Scenario {
	t.Helper()
	s, err := ShippedNamed("share-toy")
	if err != nil {
		t.Fatal(err)
	}
	s.Rollouts, s.MaxTokens = 5, 6
	s.Sweep = Sweep{Emotions: []string{"happy", "angry"}, Strengths: []float64{-1, 0, 1}}
	return s
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestResume: a sweep interrupted part-way (plus a torn last line) and run
// again generates only the missing rollouts, duplicates none and gives the
// same table as an uninterrupted sweep.
func TestResume(t *testing.T) {
	env := testEnv(t)
	sc := tinyScenario(t)
	dir := t.TempDir()
	full, err := Run(context.Background(), env, sc, filepath.Join(dir, "full.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// 2 emotions × 2 steered strengths + 1 shared baseline = 5 cells of 5.
	if got, want := full.Generated, 25; got != want {
		t.Fatalf("generated %d rollouts, want %d", got, want)
	}
	if got, want := len(full.Cells), 6; got != want {
		t.Fatalf("%d cells, want %d", got, want)
	}

	path := filepath.Join(dir, "part.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	envStop := env
	envStop.Progress = func(done, total int) {
		if done >= 9 {
			cancel()
		}
	}
	if _, err := Run(ctx, envStop, sc, path); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: got %v, want context.Canceled", err)
	}
	kept := len(lines(t, path)) - 1
	if kept < 9 || kept >= 25 {
		t.Fatalf("interrupted run kept %d rollouts, want 9 … 24", kept)
	}
	// A killed writer leaves a torn line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"cell":"happy=1@3","index":4,"se`)
	f.Close()

	resumed, err := Run(context.Background(), env, sc, path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resumed.Generated, 25-kept; got != want {
		t.Errorf("resume generated %d, want %d", got, want)
	}
	ls := lines(t, path)
	if got, want := len(ls), 26; got != want {
		t.Errorf("resumed file has %d lines, want %d (header + 25)", got, want)
	}
	seen := map[string]bool{}
	for _, l := range ls[1:] {
		i := strings.Index(l, `"seed"`)
		if i < 0 {
			t.Fatalf("rollout line without a seed: %s", l)
		}
		if seen[l[:i]] {
			t.Errorf("duplicate rollout %s", l[:i])
		}
		seen[l[:i]] = true
	}
	if got, want := Table(resumed), Table(full); got != want {
		t.Errorf("resumed table:\n%s\nuninterrupted:\n%s", got, want)
	}
	// The rollouts themselves are the same, whatever the order.
	sortedLines := func(p string) string {
		ls := lines(t, p)[1:]
		m := map[string]bool{}
		for _, l := range ls {
			m[l] = true
		}
		var b bytes.Buffer
		for _, l := range lines(t, filepath.Join(dir, "full.jsonl"))[1:] {
			fmt.Fprintln(&b, m[l])
		}
		return b.String()
	}
	if s := sortedLines(path); strings.Contains(s, "false") {
		t.Errorf("resumed rollouts differ from the uninterrupted ones")
	}
	// Steering changes the replies (the vectors are applied).
	var base, steered []string
	for _, l := range lines(t, path)[1:] {
		if strings.HasPrefix(l, `{"cell":"baseline","index":0,`) {
			base = append(base, l)
		}
		if strings.HasPrefix(l, `{"cell":"happy=1@3","index":0,`) {
			steered = append(steered, l)
		}
	}
	if len(base) != 1 || len(steered) != 1 || reply(base[0]) == reply(steered[0]) {
		t.Errorf("baseline %v and steered %v rollout 0: want one each, with different replies", base, steered)
	}

	// Run again: nothing to do.
	again, err := Run(context.Background(), env, sc, path)
	if err != nil || again.Generated != 0 {
		t.Errorf("third run: generated %v, err %v; want 0, nil", again.Generated, err)
	}
	// Other settings: a clear error, the file untouched.
	other := *sc
	other.Seed++
	if _, err := Run(context.Background(), env, &other, path); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("changed seed: got %v, want an error naming the seed", err)
	}
}

func reply(line string) string {
	i := strings.Index(line, `"reply"`)
	j := strings.Index(line, `"label"`)
	if i < 0 || j < i {
		return line
	}
	return line[i:j]
}

// TestPlot: one line per emotion, an error bar per cell with a rate.
func TestPlot(t *testing.T) {
	r0, r1 := 0.2, 0.8
	res := &Result{Name: "x", Target: "shared", Cells: []CellResult{
		{Cell: Cell{Emotion: "happy", Strength: -1, Layer: "3", Span: "all"}, Rate: &r0, CI: [2]float64{0.1, 0.4}, N: 10},
		{Cell: Cell{Emotion: "happy", Strength: 1, Layer: "3", Span: "all"}, Rate: &r1, CI: [2]float64{0.6, 0.9}, N: 10},
		{Cell: Cell{Emotion: "angry", Strength: -1, Layer: "3", Span: "all"}, Rate: &r1, CI: [2]float64{0.6, 0.9}, N: 10},
		{Cell: Cell{Emotion: "angry", Strength: 1, Layer: "3", Span: "all"}},
	}}
	svg := Plot(res)
	for what, want := range map[string]int{"<polyline": 1, "<circle": 3, "stroke-opacity": 3, ">happy<": 1, ">angry<": 1} {
		if got := strings.Count(svg, what); got != want {
			t.Errorf("%s: %d, want %d", what, got, want)
		}
	}
}

// TestSection: one row per cell, toned by the change from the baseline.
func TestSection(t *testing.T) {
	r0, r1 := 0.25, 0.75
	res := []*Result{{Name: "x", Target: "shared", Cells: []CellResult{
		{Cell: Cell{Emotion: "happy", Strength: 0}, Rate: &r0},
		{Cell: Cell{Emotion: "happy", Strength: 1}, Rate: &r1},
		{Cell: Cell{Emotion: "happy", Strength: 2}},
	}}}
	s := Section(res)
	if got, want := len(s.Rows), 3; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	if got, want := s.Rows[1][5].Tone, 0.5; !(math.Abs(got-want) <= 1e-12) {
		t.Errorf("tone of the steered cell = %g, want %g", got, want)
	}
	if got := s.Rows[2][5].Text; got != "-" {
		t.Errorf("rate of a cell without gradable rollouts = %q, want -", got)
	}
}

func TestTrends(t *testing.T) {
	rate := func(v float64) *float64 { return &v }
	cell := func(e string, s float64, r *float64, lo, hi float64) CellResult {
		return CellResult{Cell: Cell{Emotion: e, Strength: s, Layer: "3", Span: "all"}, Rate: r, CI: [2]float64{lo, hi}}
	}
	cells := []CellResult{
		// Listed out of strength order: the trend sorts them.
		cell("up", 1, rate(0.9), 0.8, 0.95), cell("up", -1, rate(0.1), 0.05, 0.2), cell("up", 0, rate(0.5), 0.3, 0.7),
		cell("flat", -1, rate(0.5), 0.3, 0.7), cell("flat", 0, rate(0.5), 0.3, 0.7), cell("flat", 1, rate(0.5), 0.3, 0.7),
		cell("bump", -1, rate(0.1), 0.05, 0.2), cell("bump", 0, rate(0.9), 0.8, 0.95), cell("bump", 1, rate(0.85), 0.7, 0.9),
		cell("gap", -1, rate(0.1), 0.05, 0.2), cell("gap", 0, nil, 0, 1), cell("gap", 1, rate(0.9), 0.8, 0.95),
	}
	want := map[string][2]bool{"up": {true, true}, "flat": {true, false}, "bump": {false, true}, "gap": {false, true}}
	got := Trends(cells)
	if len(got) != len(want) {
		t.Fatalf("%d trends, want %d", len(got), len(want))
	}
	for _, tr := range got {
		if w := want[tr.Emotion]; tr.Monotone != w[0] || tr.Separated != w[1] {
			t.Errorf("%s: monotone %v, separated %v; want %v, %v", tr.Emotion, tr.Monotone, tr.Separated, w[0], w[1])
		}
	}
}
