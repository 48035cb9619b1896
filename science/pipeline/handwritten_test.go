package pipeline

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/validate"
)

// TestHandwrittenMatchesExtraction extracts a pack from the hand-written
// stories of two emotions (one story each for training, the rest held out)
// and checks that HandwrittenMeans forms the same per-story means as the
// extraction's held-out set: same tokens, window and averaging. It then
// checks the counts of skipped stories and the short-story window.
func TestHandwrittenMatchesExtraction(t *testing.T) {
	m := embedded(t)
	emotions := []string{"happy", "sad"}
	var lines []byte
	var total, mine int
	for _, s := range catalog.Handwritten() {
		total++
		if !slices.Contains(emotions, s.Emotion) {
			continue
		}
		mine++
		st := stories.Story{ID: s.ID, Kind: stories.Emotional, Emotion: s.Emotion, Topic: "hand", Text: s.Text,
			Generator: "hand", Split: stories.HeldOut}
		if mine <= len(emotions) || s.ID == "hand-sad-1" {
			st.Split = stories.Train // hand-happy-1, hand-happy-2, hand-sad-1
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(append(lines, b...), '\n')
	}
	path := filepath.Join(t.TempDir(), "hand.jsonl")
	if err := os.WriteFile(path, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := extract.BaseStoryConfig()
	cfg.Checkpoint = ""
	ex, err := extract.Run(context.Background(), Runner{M: m}, extract.Input{Emotions: emotions, Stories: []string{path}}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, outside, short, err := HandwrittenMeans(context.Background(), m, ex.Pack)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != mine || outside != total-mine || short != 0 {
		t.Errorf("got %d stories, %d outside, %d short; want %d, %d, 0", h.Len(), outside, short, mine, total-mine)
	}
	d := m.Dim
	compared := 0
	for i, id := range ex.HeldOut.IDs {
		j := slices.Index(h.IDs, id)
		if j < 0 {
			t.Errorf("%s: not among the hand-written means", id)
			continue
		}
		if h.Labels[j] != ex.HeldOut.Labels[i] {
			t.Errorf("%s: label %d, want %d", id, h.Labels[j], ex.HeldOut.Labels[i])
		}
		for li := range h.Layers {
			got, want := h.Story(li, j), ex.HeldOut.Story(li, i)
			var maxDiff, scale float64
			for k := 0; k < d; k++ {
				maxDiff = math.Max(maxDiff, math.Abs(float64(got[k]-want[k])))
				scale = math.Max(scale, math.Abs(float64(want[k])))
			}
			if !(maxDiff <= 1e-4*scale) || !(scale > 0) {
				t.Errorf("%s layer %d: max difference %g (scale %g)", id, h.Layers[li], maxDiff, scale)
			}
		}
		compared++
	}
	if compared != mine-3 {
		t.Errorf("compared %d held-out stories, want %d", compared, mine-3)
	}

	// Scored with the pack: every layer, the hand-written stories counted.
	s, err := ScoreHandwritten(context.Background(), m, ex.Pack, validate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s == nil || s.Stories != mine || s.Skipped != total-mine || len(s.Layers) != len(ex.Pack.Meta.Layers) {
		t.Fatalf("score %+v, want %d stories, %d skipped, %d layers", s, mine, total-mine, len(ex.Pack.Meta.Layers))
	}

	// A window beyond every story: all skipped as too short, no score.
	p := ex.Pack
	p.Meta.TokenOffset = 10000
	h, _, short, err = HandwrittenMeans(context.Background(), m, p)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 0 || short != mine {
		t.Errorf("offset 10000: got %d stories, %d short; want 0, %d", h.Len(), short, mine)
	}
	if s, err := ScoreHandwritten(context.Background(), m, p, validate.Options{}); s != nil || err != nil {
		t.Errorf("offset 10000: score %v, error %v; want nil, nil", s, err)
	}
}
