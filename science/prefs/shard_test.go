package prefs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/shard"
)

// TestShardsMergeToOneRun runs the causal experiment as 2, 3 and 7 shards
// (each partial through JSON, as the shards' files hold them) and checks
// that the merge gives one process's result exactly: Elo, intervals,
// readouts, the causal test.
func TestShardsMergeToOneRun(t *testing.T) {
	m := embedded(t)
	pack := testpack.Random(testpack.Options{Emotions: []string{"happy", "sad", "afraid"}, D: m.Dim, Layers: m.Layers, Seed: 3, BestLayer: 3,
		ModelID: m.Name, Hash: "sha256:test"})
	o := Options{Activities: ChildActivities[:6], Names: []string{"Lily"}, Causal: true, Bootstrap: 40, Permutations: 50, Seed: 2, Batch: 7}
	ctx := context.Background()
	one, err := Run(ctx, m, pack, o)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(one)
	for _, n := range []int{2, 3, 7} {
		var parts []*Partial
		for i := n - 1; i >= 0; i-- { // the order of the parts must not matter
			p, err := RunShard(ctx, m, pack, o, shard.Shard{Index: i, Count: n})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var back Partial
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, &back)
		}
		res, err := Merge(ctx, m, pack, o, parts)
		if err != nil {
			t.Fatalf("%d shards: %v", n, err)
		}
		if got, _ := json.Marshal(res); string(got) != string(want) {
			t.Errorf("%d shards: merged result differs from one process's:\n got %s\nwant %s", n, got, want)
		}
		if n == 3 {
			if _, err := Merge(ctx, m, pack, o, parts[:2]); err == nil || !strings.Contains(err.Error(), "shards 0 of 3 are missing") {
				t.Errorf("merge without shard 0: got %v, want it named", err)
			}
			o2 := o
			o2.Seed = 9
			if _, err := Merge(ctx, m, pack, o2, parts); err == nil || !strings.Contains(err.Error(), "Seed 2 against 9") {
				t.Errorf("merge under another seed: got %v, want Seed 2 against 9", err)
			}
		}
	}
	if len(one.Emotions) != 3 || one.Emotions[0].DeltaElo == nil {
		t.Fatalf("one process's result has no causal test: %+v", one.Emotions)
	}
}
