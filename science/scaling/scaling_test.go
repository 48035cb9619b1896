package scaling

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/probe"
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
		t.Fatalf("loading the embedded model: %v", lerr)
	}
	return shared
}

// tiny is a study small enough for the default suite.
func tiny(dir string) Config {
	return Config{Dir: dir, Emotions: []string{"happy", "sad", "scared"}, Topics: catalog.ChildTopics()[:2],
		NeutralTopics: catalog.ChildNeutralTopics()[:3], PerTopic: 5, MaxTokens: 16, Sizes: []int{2, 4}, Base: 4,
		Lengths: []int{8, 16, 24}, LongPerTopic: 2, Openings: []string{"first-person", "mixed"}, VariantPerTopic: 3,
		Offsets: []int{0, 3}, Fractions: []float64{0, 0.5}, NeutralPerTopic: 2,
		Probe: func(x [][]float64, labels []int, k int) (func([]float64) []float64, error) {
			p, err := probe.Fit(x, labels, k, probe.Options{})
			if err != nil {
				return nil, err
			}
			return p.Scores, nil
		}}
}

func TestStudy(t *testing.T) {
	m := embedded(t)
	dir := t.TempDir()
	res, err := Run(context.Background(), m, tiny(dir))
	if err != nil {
		t.Fatal(err)
	}
	axes := map[string]int{}
	for _, r := range res.Rows {
		axes[r.Axis]++
		for name, v := range map[string]float64{"top1": r.Top1, "top5": r.Top5, "hand top1": r.HandTop1, "PC1 share": r.PC1Share} {
			if !(v >= 0 && v <= 1) {
				t.Errorf("%s %s: %s = %v, want in [0, 1]", r.Axis, r.Label, name, v)
			}
		}
		if !(r.Top5 >= r.Top1) {
			t.Errorf("%s %s: top-5 %v below top-1 %v", r.Axis, r.Label, r.Top5, r.Top1)
		}
		if want := heldIn(t, dir, r.Pool); r.HeldOut != want {
			t.Errorf("%s %s: %d held-out stories, want one per emotion and topic of each pool", r.Axis, r.Label, r.HeldOut)
		}
		if r.Hand == 0 || len(r.PerLayer) != m.Layers+1 || len(r.HandLayer) != m.Layers+1 {
			t.Errorf("%s %s: %d hand-written stories, %d/%d layer scores", r.Axis, r.Label, r.Hand, len(r.PerLayer), len(r.HandLayer))
		}
		if !(r.Seconds > 0) {
			t.Errorf("%s %s: estimated time %v", r.Axis, r.Label, r.Seconds)
		}
		if (r.Axis == "n" || r.Axis == "best") != (r.Probe != nil) {
			t.Errorf("%s %s: probe %v", r.Axis, r.Label, r.Probe)
		}
	}
	want := map[string]int{"n": 2, "n×length": 2, "length": 3, "openings": 3, "offset": 2, "denoise": 2, "best": 1}
	for a, n := range want {
		if axes[a] != n {
			t.Errorf("%d rows on axis %s, want %d", axes[a], a, n)
		}
	}
	if res.Best == nil || res.Best.Axis != "best" {
		t.Fatalf("best = %+v", res.Best)
	}
	if len(res.MidLayer) == 0 || !slices.Contains(res.MidLayer, m.Layers/2) {
		t.Errorf("mid layers %v", res.MidLayer)
	}
	secs := res.Sections()
	if len(secs) != 1 || len(secs[0].Rows) != len(res.Rows) || !strings.Contains(string(secs[0].Figure), "<svg") {
		t.Errorf("sections: %d, rows %d, figure %d bytes", len(secs), len(secs[0].Rows), len(secs[0].Figure))
	}
	// A second run reuses the pools and gives the same numbers.
	res2, err := Run(context.Background(), m, tiny(dir))
	if err != nil {
		t.Fatal(err)
	}
	// (The estimated times follow the measured read rate, which varies.)
	for i := range res.Rows {
		res.Rows[i].Seconds, res2.Rows[i].Seconds = 0, 0
	}
	a, _ := json.Marshal(res.Rows)
	b, _ := json.Marshal(res2.Rows)
	if string(a) != string(b) {
		t.Errorf("a second run gave other rows")
	}
}

// TestMatchesExtraction: the study's vectors for a setting are the ones
// limbic's extraction makes from the same stories (difference of means,
// centred, no denoising), and its held-out set is read the same way.
func TestMatchesExtraction(t *testing.T) {
	m := embedded(t)
	dir := t.TempDir()
	c := tiny(dir)
	c.Lengths, c.Openings, c.Probe = []int{}, []string{}, nil
	c.Defaults()
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rates, err := c.generate(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	s := &study{c: &c, m: m, rates: rates, feats: map[string][]feature{}, wins: map[string][]window{}, genTok: map[string]float64{}, readTok: map[string]float64{}}
	if err := s.read(ctx); err != nil {
		t.Fatal(err)
	}
	st := Setting{Pool: "main", PerEmo: 4, Offset: 3, Length: c.MaxTokens}
	ts, err := s.selectSet(st)
	if err != nil {
		t.Fatal(err)
	}
	pack, held, err := s.build(ts, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(ts.train), countIdx(t, dir, 1, 2); got != want || got < 3*4-2 {
		t.Fatalf("%d training stories, want %d", got, want)
	}
	// The same stories with their split written out, through extract.Run.
	all, err := stories.ReadAll(filepath.Join(dir, "pools", "main.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []stories.Story
	for _, x := range all {
		switch {
		case x.Index == 0:
			x.Split = stories.HeldOut
		case x.Index <= 2 && x.Index >= 1:
			x.Split = stories.Train
		default:
			continue
		}
		kept = append(kept, x)
	}
	file := filepath.Join(dir, "split.jsonl")
	st2, err := stories.OpenStore(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Append(kept); err != nil {
		t.Fatal(err)
	}
	st2.Close()
	cfg := extract.DefaultConfig()
	cfg.Window.Offset, cfg.Denoise.Fraction, cfg.CheckpointEvery = 3, 0, 0
	ex, err := extract.Run(ctx, pipeline.Runner{M: m}, extract.Input{Model: vecpack.ModelInfo{ID: m.Name, DModel: m.Dim, NLayers: m.Layers}, Emotions: c.Emotions, Stories: []string{file}}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex.HeldOut.Len() != held.Len() || ex.Stats.Train != len(ts.train) {
		t.Fatalf("extraction read %d train and %d held-out stories; the study %d and %d", ex.Stats.Train, ex.HeldOut.Len(), len(ts.train), held.Len())
	}
	for i, l := range ex.Pack.Meta.Layers {
		j := slices.Index(pack.Meta.Layers, l)
		got, want := pack.Layers[j].Raw, ex.Pack.Layers[i].Raw
		if d := approx.MaxAbsDiff(got, want); !(d <= 1e-5*norm(want)) {
			t.Errorf("layer %d: vectors differ by %g (norm %g)", l, d, norm(want))
		}
	}
}

// countIdx counts the main pool's stories with index in [lo, hi].
func countIdx(t *testing.T, dir string, lo, hi int) int {
	t.Helper()
	all, err := stories.ReadAll(filepath.Join(dir, "pools", "main.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range all {
		if s.Index >= lo && s.Index <= hi {
			n++
		}
	}
	return n
}

// heldIn counts the index-0 stories of a pool (mixed: of main and the
// opening pools).
func heldIn(t *testing.T, dir, pool string) int {
	t.Helper()
	pools := []string{pool}
	if pool == "mixed" {
		pools = []string{"main", "first-person"}
	}
	n := 0
	for _, p := range pools {
		all, err := stories.ReadAll(filepath.Join(dir, "pools", p+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range all {
			if s.Index == 0 {
				n++
			}
		}
	}
	return n
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.PerTopic = 1 }, "at least 2"},
		{func(c *Config) { c.Sizes = []int{3} }, "multiple of the 2 topics"},
		{func(c *Config) { c.Sizes = []int{2, 10} }, "at most 8"},
		{func(c *Config) { c.Openings = []string{"sideways"} }, "unknown opening set"},
		{func(c *Config) { c.Offsets = []int{3} }, "start with 0"},
		{func(c *Config) { c.Offsets = []int{0, 16} }, "outside [0, 16)"},
		{func(c *Config) { c.Fractions = []float64{math.NaN()} }, "outside [0, 1)"},
		{func(c *Config) { c.Lengths = []int{24, 8} }, "increasing"},
		{func(c *Config) { c.Dir = "" }, "no directory"},
	} {
		cfg := tiny(t.TempDir())
		c.edit(&cfg)
		cfg.Defaults()
		err := cfg.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want one containing %q", err, c.want)
		}
	}
}

func TestMidAndLayers(t *testing.T) {
	if got := readLayers(6); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("readLayers(6) = %v", got)
	}
	if got := readLayers(32); len(got) != 12 || got[0] != 0 || got[11] != 31 {
		t.Errorf("readLayers(32) = %v", got)
	}
	if got := midOf([]int{0, 1, 2, 3, 4, 5}, 6); !slices.Equal(got, []int{2, 3, 4}) {
		t.Errorf("midOf(6 layers) = %v, want [2 3 4]", got)
	}
}
