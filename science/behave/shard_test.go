package behave

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/shard"
)

// TestShardsMergeToOneRun runs a sweep as 2, 3 and 7 shards, merges their
// rollouts files and checks the table against one process's: identical
// counts, rates and intervals.
func TestShardsMergeToOneRun(t *testing.T) {
	env := testEnv(t)
	sc := tinyScenario(t)
	sc.Rollouts = 3
	full, err := Run(context.Background(), env, sc, filepath.Join(t.TempDir(), "full.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	table := func(r *Result) string {
		b, _ := json.Marshal(struct {
			Cells  []CellResult
			Trends []Trend
		}{r.Cells, r.Trends})
		return string(b)
	}
	want := table(full)
	for _, n := range []int{2, 3, 7} {
		dir := t.TempDir()
		shards := filepath.Join(dir, "shards")
		total := 0
		for i := 0; i < n; i++ {
			e := env
			e.Shard = shard.Shard{Index: i, Count: n}
			r, err := Run(context.Background(), e, sc, filepath.Join(shards, ShardFile(sc.Name, e.Shard)))
			if err != nil {
				t.Fatalf("shard %s: %v", e.Shard, err)
			}
			if r.Cells != nil {
				t.Errorf("shard %s returned a table", e.Shard)
			}
			total += r.Generated
		}
		if total != full.Generated {
			t.Errorf("%d shards generated %d rollouts, want %d", n, total, full.Generated)
		}
		if n == 3 {
			// A missing shard is named; so is a shard of other settings.
			moved := filepath.Join(dir, "away.jsonl")
			if err := os.Rename(filepath.Join(shards, ShardFile(sc.Name, shard.Shard{Index: 1, Count: 3})), moved); err != nil {
				t.Fatal(err)
			}
			if err := MergeShards(env, sc, shards, filepath.Join(dir, "merged.jsonl")); err == nil || !strings.Contains(err.Error(), "shards 1 of 3 have no file") {
				t.Errorf("merge without shard 1: got %v, want it named", err)
			}
			os.Rename(moved, filepath.Join(shards, ShardFile(sc.Name, shard.Shard{Index: 1, Count: 3})))
			other := *sc
			other.Seed++
			if err := MergeShards(env, &other, shards, filepath.Join(dir, "merged.jsonl")); err == nil || !strings.Contains(err.Error(), "seed") {
				t.Errorf("merge under another seed: got %v, want the seed named", err)
			}
		}
		merged := filepath.Join(dir, "merged.jsonl")
		if err := MergeShards(env, sc, shards, merged); err != nil {
			t.Fatalf("%d shards: %v", n, err)
		}
		res, err := Run(context.Background(), env, sc, merged)
		if err != nil {
			t.Fatal(err)
		}
		if res.Generated != 0 {
			t.Errorf("%d shards: the merged file lacked %d rollouts", n, res.Generated)
		}
		if got := table(res); got != want {
			t.Errorf("%d shards: table differs from one process's:\n got %s\nwant %s", n, got, want)
		}
	}
}
