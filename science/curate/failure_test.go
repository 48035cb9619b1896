package curate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func TestBuildFailureSets(t *testing.T) {
	m := embedded(t)
	p := testpack.Random(testpack.Options{Emotions: []string{"calm", "desperate", "happy"}, D: m.Dim, Layers: m.Layers, Seed: 5, ModelID: m.Name, BestLayer: 4})
	o := FailureOptions{Openings: FailureOpenings[:6], HeldOut: 2, PerOpening: 6, Keep: 1, MaxTokens: 24, Seed: 7, Tolerance: 0.05}
	calm, desp, held, err := BuildFailureSets(context.Background(), m, p, o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(calm), 4; got != want || len(desp) != want {
		t.Fatalf("sets of %d and %d documents, want %d each", len(calm), len(desp), want)
	}
	if got, want := len(held), 2; got != want {
		t.Errorf("%d held-out openings, want %d", got, want)
	}
	heldIdx := map[int]bool{}
	for _, h := range held {
		heldIdx[h.Opening] = true
		if h.Text != FailureOpenings[h.Opening] {
			t.Errorf("held-out %d: text %q, want the opening", h.Opening, h.Text)
		}
	}
	tokens := func(ds []Doc) int {
		n := 0
		for _, d := range ds {
			n += d.Tokens
		}
		return n
	}
	tc, td := tokens(calm), tokens(desp)
	if d := float64(abs(tc-td)) / float64(max(tc, td)); !(d <= 0.05) {
		t.Errorf("token counts %d and %d differ by %.3f, want at most 0.05", tc, td, d)
	}
	t.Logf("calm set %d tokens, desperate set %d tokens", tc, td)
	seen := map[uint64]bool{}
	for _, set := range [][]Doc{calm, desp} {
		for _, d := range set {
			if heldIdx[d.Opening] {
				t.Errorf("a training document continues held-out opening %d", d.Opening)
			}
			if seen[d.Seed] {
				t.Errorf("document seed %d is in both sets or twice", d.Seed)
			}
			seen[d.Seed] = true
			if d.Tokens != len(m.Tok.Encode(d.Text, true)) {
				t.Errorf("seed %d: tokens %d, want %d", d.Seed, d.Tokens, len(m.Tok.Encode(d.Text, true)))
			}
		}
	}
	// Each training opening is continued once in each set, the calm
	// continuation reading less desperate (relative to calm) than the other.
	for i := range calm {
		c, d := calm[i], desp[i]
		if c.Opening != d.Opening || heldIdx[c.Opening] {
			t.Errorf("document %d: openings %d and %d, want the same training opening", i, c.Opening, d.Opening)
		}
		if !(c.Desperate-c.Calm <= d.Desperate-d.Calm) {
			t.Errorf("opening %d: calm document reads desperate − calm %.3f, above the desperate one's %.3f", c.Opening, c.Desperate-c.Calm, d.Desperate-d.Calm)
		}
	}
	// The readouts are the continuation's: check one against readout.Scan.
	s, err := NewScorer(m, p, ScoreOptions{BestLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	d := desp[0]
	from := len(m.Tok.Encode(FailureOpenings[d.Opening], true))
	want := meanReadout(t, m, s, m.Tok.Encode(d.Text, true), from)
	if e := d.Desperate - want[1]; !(e*e <= 1e-8) {
		t.Errorf("desperate readout %v, want %v", d.Desperate, want[1])
	}
	if e := d.Calm - want[0]; !(e*e <= 1e-8) {
		t.Errorf("calm readout %v, want %v", d.Calm, want[0])
	}
	// Same options, same sets.
	calm2, _, _, err := BuildFailureSets(context.Background(), m, p, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calm, calm2) {
		t.Errorf("a second run gave other calm documents")
	}
	path := filepath.Join(t.TempDir(), "calm.jsonl")
	if err := WriteJSONL(path, calm); err != nil {
		t.Fatal(err)
	}
	s2, err := NewScorer(m, p, ScoreOptions{BestLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := s2.Stream(context.Background(), f, path, &discard{}, 0, nil)
	if err != nil || st.Docs != len(calm) {
		t.Errorf("the written set reads back as %d documents (%v), want %d", st.Docs, err, len(calm))
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// With the vector pack `limbic run` made for stories15M (when it is in the
// cache), build small sets and log examples for spot-checking
// (LIMBIC_CURATE_EXAMPLES=1 go test -run Examples -v ./science/curate). The old
// packs have no "desperate": "frustrated" stands in for it then.
func TestFailureSetsExamples(t *testing.T) {
	if os.Getenv("LIMBIC_CURATE_EXAMPLES") == "" {
		t.Skip("set LIMBIC_CURATE_EXAMPLES=1 to generate (minutes on 2 cores)")
	}
	m := embedded(t)
	p, err := vecpack.Read(filepath.Join(hub.Home(), "runs", "stories15m", "vectors.safetensors"))
	if err != nil {
		t.Skipf("no stories15m pack: %v", err)
	}
	o := FailureOptions{PerOpening: 8, MaxTokens: 96, Seed: 1}
	start := time.Now()
	if _, err := p.EmotionIndex("desperate"); err != nil {
		o.Desperate = "frustrated"
	}
	calm, desp, held, err := BuildFailureSets(context.Background(), m, p, o)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(ds []Doc) (n int, c, d float64) {
		for _, x := range ds {
			n += x.Tokens
			c += x.Calm
			d += x.Desperate
		}
		return n, c / float64(len(ds)), d / float64(len(ds))
	}
	for _, set := range []struct {
		name string
		docs []Doc
	}{{"calm_set", calm}, {"desperate_set (" + o.Desperate + ")", desp}} {
		n, c, d := sum(set.docs)
		t.Logf("%s: %d documents, %d tokens, mean calm z %+.2f, mean %s z %+.2f", set.name, len(set.docs), n, c, o.Desperate, d)
		for _, x := range set.docs[:3] {
			t.Logf("  [calm %+.2f, %s %+.2f] %q", x.Calm, o.Desperate, x.Desperate, x.Text)
		}
	}
	t.Logf("built in %s", time.Since(start).Round(time.Second))
	t.Logf("held out: %d openings, first %q", len(held), held[0].Text)
}
