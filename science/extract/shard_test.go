package extract

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// maxRelDiff returns max |a−b| / max(|b|) over two vectors.
func maxRelDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, scale float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		scale = math.Max(scale, math.Abs(b[i]))
	}
	return d / scale
}

// runShards runs every shard of count n into dir and returns the state paths.
func runShards(t *testing.T, dir string, in Input, cfg Config, n int) []string {
	t.Helper()
	var paths []string
	for i := 0; i < n; i++ {
		c := cfg
		c.Shard = shard.Shard{Index: i, Count: n}
		c.Checkpoint = filepath.Join(dir, fmt.Sprintf("shard-%d-of-%d", i, n))
		res, err := Run(context.Background(), newWordModel(16, 3), in, c, nil)
		if err != nil {
			t.Fatalf("shard %d/%d: %v", i, n, err)
		}
		if res.Pack != nil {
			t.Fatalf("shard %d/%d returned a pack", i, n)
		}
		paths = append(paths, c.Checkpoint)
	}
	return paths
}

func TestMergeShardsEqualsOneRun(t *testing.T) {
	dir := t.TempDir()
	sp, np := writeCorpus(t, dir, 30)
	in := Input{Model: vecpack.ModelInfo{ID: "words", Hash: "sha256:abc"}, Emotions: testEmotions, Stories: []string{sp}, Neutral: []string{np}}
	cfg := testConfig(dir)
	cfg.Checkpoint = ""
	one, err := Run(context.Background(), newWordModel(16, 3), in, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var got *Result
			var err error
			if n == 1 {
				// One shard of one is the unsharded run.
				c := cfg
				c.Shard = shard.Shard{Index: 0, Count: 1}
				got, err = Run(context.Background(), newWordModel(16, 3), in, c, nil)
			} else {
				paths := runShards(t, t.TempDir(), in, cfg, n)
				slices.Reverse(paths) // the order of the paths must not matter
				got, err = MergeShards(paths, nil, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for l := range one.Vectors.Layers {
				for e := range testEmotions {
					for _, dn := range []bool{false, true} {
						worst = math.Max(worst, maxRelDiff(got.Vectors.Vector(l, e, dn), one.Vectors.Vector(l, e, dn)))
					}
				}
			}
			t.Logf("%d shards: float64 vectors within %.3g (relative) of one run", n, worst)
			if !(worst <= 1e-9) {
				t.Errorf("vectors: max relative difference %g, want ≤ 1e-9", worst)
			}
			if g, w := got.Stats, one.Stats; g != w {
				t.Errorf("stats: got %+v, want %+v", g, w)
			}
			if g, w := got.HeldOut.IDs, one.HeldOut.IDs; !slices.Equal(g, w) {
				t.Errorf("held-out IDs: got %v, want %v", g, w)
			}
			for l := range one.HeldOut.Means {
				if !slices.Equal(got.HeldOut.Means[l], one.HeldOut.Means[l]) {
					t.Errorf("held-out means at layer index %d differ", l)
				}
			}
			if g, w := got.Pack.Meta.NeutralTexts, one.Pack.Meta.NeutralTexts; g != w {
				t.Errorf("neutral texts: got %d, want %d", g, w)
			}
		})
	}
}

func TestMergeShardsRefuses(t *testing.T) {
	dir := t.TempDir()
	sp, np := writeCorpus(t, dir, 12)
	in := Input{Model: vecpack.ModelInfo{ID: "words", Hash: "sha256:abc"}, Emotions: testEmotions, Stories: []string{sp}, Neutral: []string{np}}
	cfg := testConfig(dir)
	paths := runShards(t, t.TempDir(), in, cfg, 3)

	other := cfg
	other.Window.Offset = 6
	odd := runShards(t, t.TempDir(), in, other, 3)

	// A shard cancelled in its second batch leaves an incomplete state.
	cut := t.TempDir()
	c := cfg
	c.Shard = shard.Shard{Index: 1, Count: 3}
	c.Checkpoint = filepath.Join(cut, "shard-1")
	ctx, cancel := context.WithCancel(context.Background())
	m := newWordModel(16, 3)
	m.failAt, m.cancel = 2, cancel
	if _, err := Run(ctx, m, in, c, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled shard: got %v", err)
	}

	for _, tc := range []struct {
		name  string
		paths []string
		want  []string
	}{
		{"missing", []string{paths[0], paths[2]}, []string{"shards 1 of 3 have no state"}},
		{"two missing", []string{paths[1]}, []string{"shards 0, 2 of 3"}},
		{"other window", []string{paths[0], odd[1], paths[2]}, []string{"Window", `"Offset":5`, `"Offset":6`}},
		{"incomplete", []string{paths[0], c.Checkpoint, paths[2]}, []string{"shards 1 of 3 did not finish"}},
		{"twice", []string{paths[0], paths[1], paths[1], paths[2]}, []string{"shard 1/3 given twice"}},
	} {
		_, err := MergeShards(tc.paths, nil, nil)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}

	// Run again, the cancelled shard completes and merges to the same
	// vectors as the shard that was never interrupted.
	if _, err := Run(context.Background(), newWordModel(16, 3), in, c, nil); err != nil {
		t.Fatal(err)
	}
	a, err := MergeShards([]string{paths[0], paths[1], paths[2]}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MergeShards([]string{paths[0], c.Checkpoint, paths[2]}, &cfg.Denoise, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(b.Vectors.Vector(1, 0, true), a.Vectors.Vector(1, 0, true)); !(d <= 1e-12) {
		t.Errorf("resumed shard: vectors differ by %g", d)
	}
	if g, w := b.Stats.Train+b.Stats.HeldOut, a.Stats.Train+a.Stats.HeldOut; g != w {
		t.Errorf("resumed shard: %d stories, want %d", g, w)
	}
}
