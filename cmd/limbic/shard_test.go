package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// shardFlags are the small settings of the sharding tests.
func shardFlags(t *testing.T) []string {
	t.Helper()
	topics := filepath.Join(t.TempDir(), "topics.txt")
	if err := os.WriteFile(topics, []byte("a cat\na garden\nthe sea\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--emotions", "happy,sad,scared", "--topics", topics, "--per-topic", "2", "--max-tokens", "12",
		"--neutral-per-topic", "1", "--batch", "1", "-q"}
}

// vectorDiff returns the largest difference between the vectors of the
// packs in two run directories, relative to the largest magnitude of the
// second's matrix at that layer.
func vectorDiff(t *testing.T, dirA, dirB string) float64 {
	t.Helper()
	a, err := vecpack.Read(filepath.Join(dirA, pipeline.PackFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := vecpack.Read(filepath.Join(dirB, pipeline.PackFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Meta.Emotions, b.Meta.Emotions) || !slices.Equal(a.Meta.Layers, b.Meta.Layers) {
		t.Fatalf("packs of %v %v and %v %v", a.Meta.Emotions, a.Meta.Layers, b.Meta.Emotions, b.Meta.Layers)
	}
	worst := 0.0
	for l := range a.Layers {
		for _, p := range [][2][]float32{{a.Layers[l].Raw, b.Layers[l].Raw}, {a.Layers[l].Denoised, b.Layers[l].Denoised}} {
			if len(p[0]) != len(p[1]) || len(p[1]) == 0 {
				t.Fatalf("layer %d: %d values against %d", l, len(p[0]), len(p[1]))
			}
			var d, scale float64
			for i := range p[0] {
				d = math.Max(d, math.Abs(float64(p[0][i])-float64(p[1][i])))
				scale = math.Max(scale, math.Abs(float64(p[1][i])))
			}
			worst = math.Max(worst, d/scale)
		}
	}
	return worst
}

// sameFiles fails unless the named files of two run directories are
// byte-identical and not empty.
func sameFiles(t *testing.T, dirA, dirB string, names ...string) {
	t.Helper()
	for _, f := range names {
		a, err1 := os.ReadFile(filepath.Join(dirA, f))
		b, err2 := os.ReadFile(filepath.Join(dirB, f))
		if err1 != nil || err2 != nil || len(b) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: %d bytes differ from the one process's %d (%v, %v)", f, len(a), len(b), err1, err2)
		}
	}
}

// TestShardProcesses runs the stories and extract steps as four shard
// processes at once, kills one stories shard with SIGKILL in the middle
// (leaving a torn line behind it, as a kill during a write does), runs it
// again, merges, and compares with one process.
func TestShardProcesses(t *testing.T) {
	flags := shardFlags(t)
	one, dir := t.TempDir(), t.TempDir()
	limbic(t, append([]string{"stories", "--dir", one}, flags...)...)
	limbic(t, append([]string{"extract", "--dir", one}, flags...)...)

	const n = 4
	// Shard 1 first, alone, to kill it once it has stored a story.
	part := filepath.Join(dir, pipeline.ShardDir, "stories.1-of-4.jsonl.part")
	victim := exec.Command(bin, append([]string{"stories", "--dir", dir, "--shard", "1/4"}, flags...)...)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- victim.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(part); bytes.Count(b, []byte("\n")) >= 1 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("stories shard 1/4 ended (%v) before it could be killed half-way", err)
		default:
		}
		if time.Now().After(deadline) {
			victim.Process.Kill()
			t.Fatal("stories shard 1/4 wrote nothing in 60 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if ws, ok := victim.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("stories shard 1/4: ended with %v, want killed by SIGKILL", err)
	}
	f, err := os.OpenFile(part, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"torn by a kill","text":"Once upon`)
	f.Close()
	if _, err := os.Stat(filepath.Join(dir, pipeline.ShardDir, "stories.1-of-4.json")); err == nil {
		t.Fatal("a killed shard left its manifest: merge would take it as finished")
	}
	runShardList(t, n, []int{0, 2, 3}, append([]string{"stories", "--dir", dir}, flags...)...)
	if msg := limbicFails(t, "merge", "--dir", dir, "--step", "stories"); !strings.Contains(msg, "shards 1 of 4") {
		t.Errorf("merge without shard 1: %q, want it to name shards 1 of 4", msg)
	}
	limbic(t, append([]string{"stories", "--dir", dir, "--shard", "1/4"}, flags...)...)
	limbic(t, "merge", "--dir", dir, "--step", "stories")
	sameFiles(t, dir, one, pipeline.StoriesFile, pipeline.NeutralFile)

	runShardList(t, n, []int{0, 1, 2, 3}, append([]string{"extract", "--dir", dir}, flags...)...)
	limbic(t, "merge", "--dir", dir)
	sameFiles(t, dir, one, pipeline.StoriesFile, pipeline.NeutralFile)
	d := vectorDiff(t, dir, one)
	t.Logf("%d shard processes: stories byte-identical, vectors within %.3g (relative)", n, d)
	if !(d <= 1e-6) {
		t.Errorf("vectors differ by %g (relative) from one process's, want ≤ 1e-6", d)
	}
}

// limbicFails runs the binary, fails the test unless it exits non-zero, and
// returns its stderr.
func limbicFails(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("limbic %v: no error", args)
	}
	return stderr.String()
}

// runShardList runs the listed shards of n of a step as concurrent
// processes.
func runShardList(t *testing.T, n int, shards []int, args ...string) {
	t.Helper()
	var cmds []*exec.Cmd
	var errs []*strings.Builder
	for _, i := range shards {
		c := exec.Command(bin, append(slices.Clone(args), "--shard", fmt.Sprintf("%d/%d", i, n))...)
		var e strings.Builder
		c.Stderr = &e
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, errs = append(cmds, c), append(errs, &e)
	}
	for k, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("limbic %v --shard %d/%d: %v\n%s", args, shards[k], n, err, errs[k])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestPrefsShardProcesses runs limbic prefs as three shard processes at
// once, merges them with --merge, and compares the results file with one
// process's: byte-identical (Elo, intervals, position bias).
func TestPrefsShardProcesses(t *testing.T) {
	acts := filepath.Join(t.TempDir(), "activities.txt")
	if err := os.WriteFile(acts, []byte("eat ice cream\nplay with a puppy\ngo to the beach\nwash the dishes\nget stung by a bee\nbe yelled at\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"prefs", "--activities", acts, "--names", "Lily", "--bootstrap", "30", "--permutations", "10", "--batch", "7", "-q"}
	one, dir := filepath.Join(t.TempDir(), "prefs.json"), filepath.Join(t.TempDir(), "prefs.json")
	limbic(t, append(flags, "--out", one)...)
	runShardList(t, 3, []int{0, 1, 2}, append(flags, "--out", dir)...)
	if err := os.Remove(filepath.Join(filepath.Dir(dir), "shards", "prefs.1-of-3.json")); err != nil {
		t.Fatal(err)
	}
	if msg := limbicFails(t, append(flags, "--out", dir, "--merge")...); !strings.Contains(msg, "shards 1 of 3 are missing") {
		t.Errorf("merge without shard 1: %q, want it named", msg)
	}
	limbic(t, append(flags, "--out", dir, "--shard", "1/3")...)
	limbic(t, append(flags, "--out", dir, "--merge")...)
	sameFiles(t, filepath.Dir(dir), filepath.Dir(one), "prefs.json")
}

// TestEvalShardProcesses runs limbic eval as three shard processes at
// once, merges them with --merge and compares the table (cells, rates,
// intervals) and the plot with one process's.
func TestEvalShardProcesses(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "cookie.yaml")
	if err := os.WriteFile(sc, []byte(strings.Replace(evalScenario, "rollouts: 3", "rollouts: 8", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	table := func(out string) string {
		var doc struct {
			Scenarios []struct {
				Cells  json.RawMessage `json:"cells"`
				Trends json.RawMessage `json:"trends"`
			} `json:"scenarios"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Scenarios) != 1 || len(doc.Scenarios[0].Cells) < 10 {
			t.Fatalf("eval --json: %v\n%s", err, out)
		}
		return string(doc.Scenarios[0].Cells) + string(doc.Scenarios[0].Trends)
	}
	want := table(limbic(t, "eval", sc, "--out", one, "--json", "-q"))
	runShardList(t, 3, []int{0, 2}, "eval", sc, "--out", two, "-q")
	if msg := limbicFails(t, "eval", sc, "--out", two, "--merge", "-q"); !strings.Contains(msg, "shards 1 of 3 have no file") {
		t.Errorf("merge without shard 1: %q, want it named", msg)
	}
	limbic(t, "eval", sc, "--out", two, "--shard", "1/3", "-q")
	if got := table(limbic(t, "eval", sc, "--out", two, "--merge", "--json", "-q")); got != want {
		t.Errorf("merged table differs from one process's:\n got %s\nwant %s", got, want)
	}
	sameFiles(t, two, one, "cookie.svg")
}
