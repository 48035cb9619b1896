package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/prefs"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// The report picks up the function experiments' results: prefs.json gives
// the Elo and emotion sections, eval.json the behaviour section.
func TestFunctionSections(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ExpDir)
	if secs, err := functionSections(dir); err != nil || len(secs) != 0 {
		t.Fatalf("no results: %d sections, %v", len(secs), err)
	}
	d := 12.5
	pr := &prefs.Result{Protocol: prefs.ProtocolStory, Activities: []string{"swim", "nap"}, Comparisons: 2,
		Elo: map[string]float64{"swim": 1600, "nap": 1400}, EloCI: map[string]prefs.Interval{"swim": {1550, 1650}, "nap": {1350, 1450}},
		HardElo: map[string]float64{"swim": 1650, "nap": 1350}, Strength: 0.15,
		Emotions: []prefs.EmotionResult{{Emotion: "happy", R: 0.4, P: 0.02, DeltaElo: &d, DeltaEloCI: &prefs.Interval{3, 20}}}}
	if err := writeJSON(filepath.Join(dir, PrefsFile), pr); err != nil {
		t.Fatal(err)
	}
	rate := 0.5
	ev := map[string]any{"scenarios": []*behave.Result{{Name: "share-toy", Target: "shared", Cells: []behave.CellResult{{Cell: behave.Cell{Emotion: "happy", Strength: 0.25}, Rate: &rate, N: 10}}}}}
	if err := writeJSON(filepath.Join(dir, EvalFile), ev); err != nil {
		t.Fatal(err)
	}
	secs, err := functionSections(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range secs {
		ids = append(ids, s.ID)
	}
	if got := strings.Join(ids, ","); got != "prefs,prefs-emotions,behaviour" {
		t.Fatalf("sections %s, want prefs,prefs-emotions,behaviour", got)
	}
	for _, s := range secs {
		if !strings.Contains(string(s.Figure), "<svg") {
			t.Errorf("section %s has no figure", s.ID)
		}
	}
	if secs[0].Rows[0][0].Text != "swim" || !strings.Contains(secs[1].Rows[0][3].Text, "+12.5") {
		t.Errorf("rows: %v / %v", secs[0].Rows, secs[1].Rows)
	}
	// a damaged file is an error naming it, not a silently missing section
	if err := os.WriteFile(filepath.Join(dir, PrefsFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := functionSections(dir); err == nil || !strings.Contains(err.Error(), PrefsFile) {
		t.Errorf("damaged prefs.json: %v", err)
	}
}

// TestPrefsOptions: a run's preference experiment reads and steers those of
// PrefsEmotions its pack has, in PrefsEmotions' order, with the run's seed;
// with none of them (or no pack) it runs no causal test.
func TestPrefsOptions(t *testing.T) {
	for _, tc := range []struct {
		pack       []string // nil: no pack
		want       []string
		wantCausal bool
	}{
		{[]string{"sad", "calm", "happy", "lonely"}, []string{"happy", "sad", "lonely"}, true},
		{[]string{"calm", "bored"}, nil, false},
		{nil, nil, false},
	} {
		var p *vecpack.Pack
		if tc.pack != nil {
			p = &vecpack.Pack{Meta: vecpack.Meta{Emotions: tc.pack}}
		}
		o := PrefsOptions(p, 7)
		if !slices.Equal(o.Emotions, tc.want) || o.Causal != tc.wantCausal {
			t.Errorf("pack %v: emotions %v, causal %v; want %v, %v", tc.pack, o.Emotions, o.Causal, tc.want, tc.wantCausal)
		}
		if o.Seed != 7 || o.Bootstrap != 500 || o.Permutations != 2000 {
			t.Errorf("pack %v: seed %d, bootstrap %d, permutations %d; want 7, 500, 2000", tc.pack, o.Seed, o.Bootstrap, o.Permutations)
		}
	}
}
