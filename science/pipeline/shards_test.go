package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// packDiff returns the largest difference between two packs' vectors
// (raw, denoised and centre), relative to the largest magnitude of b's
// matrix at that layer, and an error when their emotions, layers or held
// counts differ.
func packDiff(a, b *vecpack.Pack) (float64, error) {
	if !slices.Equal(a.Meta.Emotions, b.Meta.Emotions) || !slices.Equal(a.Meta.Layers, b.Meta.Layers) || len(a.Layers) != len(b.Layers) {
		return 0, fmt.Errorf("emotions %v layers %v against %v %v", a.Meta.Emotions, a.Meta.Layers, b.Meta.Emotions, b.Meta.Layers)
	}
	worst := 0.0
	for l := range a.Layers {
		for _, pair := range [][2][]float32{{a.Layers[l].Raw, b.Layers[l].Raw}, {a.Layers[l].Denoised, b.Layers[l].Denoised}, {a.Layers[l].Center, b.Layers[l].Center}} {
			x, y := pair[0], pair[1]
			if len(x) != len(y) || len(y) == 0 {
				return 0, fmt.Errorf("layer %d: %d values against %d", a.Meta.Layers[l], len(x), len(y))
			}
			var d, scale float64
			for i := range x {
				d = math.Max(d, math.Abs(float64(x[i])-float64(y[i])))
				scale = math.Max(scale, math.Abs(float64(y[i])))
			}
			worst = math.Max(worst, d/scale)
		}
	}
	return worst, nil
}

func shardConfig(dir string) Config {
	return Config{Dir: dir, Emotions: []string{"happy", "sad", "scared"}, Topics: catalog.ChildTopics()[:2],
		NeutralTopics: catalog.ChildNeutralTopics()[:3], PerTopic: 2, NeutralPerTopic: 1, MaxTokens: 12, Batch: 4, Seed: 5}
}

// runSharded runs the stories and extract shards of count n into dir, in
// process, and merges the extraction.
func runSharded(t *testing.T, dir string, n int, edit func(i int, c *Config), steps ...string) {
	t.Helper()
	m := embedded(t)
	for _, step := range steps {
		for i := 0; i < n; i++ {
			cfg := shardConfig(dir)
			cfg.Shard = shard.Shard{Index: i, Count: n}
			if edit != nil {
				edit(i, &cfg)
			}
			var err error
			if step == StepStories {
				_, _, err = Stories(context.Background(), m, cfg)
			} else {
				_, err = Extract(context.Background(), m, cfg)
			}
			if err != nil {
				t.Fatalf("%s shard %d/%d: %v", step, i, n, err)
			}
		}
	}
}

func TestShardsEqualOneProcess(t *testing.T) {
	m := embedded(t)
	one := t.TempDir()
	if _, _, err := Stories(context.Background(), m, shardConfig(one)); err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(context.Background(), m, shardConfig(one)); err != nil {
		t.Fatal(err)
	}
	wantPack, err := vecpack.Read(filepath.Join(one, PackFile))
	if err != nil {
		t.Fatal(err)
	}
	wantHeld, err := vecpack.ReadHeldOut(filepath.Join(one, HeldOutFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			runSharded(t, dir, n, nil, StepStories, StepExtract)
			if n > 1 {
				if _, err := os.Stat(filepath.Join(dir, PackFile)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("extract shards wrote the pack before the merge: %v", err)
				}
				if _, err := MergeExtract(dir, nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range []string{StoriesFile, NeutralFile} {
				got, err1 := os.ReadFile(filepath.Join(dir, f))
				want, err2 := os.ReadFile(filepath.Join(one, f))
				if err1 != nil || err2 != nil || !bytes.Equal(got, want) || len(want) == 0 {
					t.Errorf("%s: %d bytes, not the one process's %d (%v, %v)", f, len(got), len(want), err1, err2)
				}
			}
			got, err := vecpack.Read(filepath.Join(dir, PackFile))
			if err != nil {
				t.Fatal(err)
			}
			d, err := packDiff(got, wantPack)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d shards: vectors within %.3g (relative) of one process", n, d)
			if !(d <= 1e-6) {
				t.Errorf("%d shards: vectors differ by %g (relative), want ≤ 1e-6", n, d)
			}
			held, err := vecpack.ReadHeldOut(filepath.Join(dir, HeldOutFile))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(held.IDs, wantHeld.IDs) || !slices.Equal(held.Labels, wantHeld.Labels) {
				t.Errorf("held-out set: got %v, want %v", held.IDs, wantHeld.IDs)
			}
		})
	}
}

func TestMergeRefuses(t *testing.T) {
	odd := t.TempDir()
	runSharded(t, odd, 3, func(i int, c *Config) {
		if i == 2 {
			c.MaxTokens = 10
		}
	}, StepStories)
	_, _, err := MergeStories(odd)
	if err == nil || !strings.Contains(err.Error(), "shard 2/3") || !strings.Contains(err.Error(), "MaxTokens 12 against 10") {
		t.Errorf("stories of two settings: got %v, want an error naming shard 2/3 and MaxTokens 12 against 10", err)
	}
	dir := t.TempDir()
	runSharded(t, dir, 3, nil, StepStories, StepExtract)
	// The extract shards read the stories that the first extract shard
	// merged; a missing state is named by its index.
	if err := os.Remove(filepath.Join(dir, ShardDir, "extract.1-of-3.state")); err != nil {
		t.Fatal(err)
	}
	if _, err := MergeExtract(dir, nil, nil); err == nil || !strings.Contains(err.Error(), "shards 1 of 3") {
		t.Errorf("extract without shard 1: got %v, want an error naming shards 1 of 3", err)
	}
	if err := os.Remove(filepath.Join(dir, ShardDir, "stories.0-of-3.json")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := MergeStories(dir); err == nil || !strings.Contains(err.Error(), "shards 0 of 3") {
		t.Errorf("stories without shard 0: got %v, want an error naming shards 0 of 3", err)
	}
}
