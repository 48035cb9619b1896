package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/internal/cluster/slurmtest"
	"github.com/limbic-dev/limbic/science/pipeline"
)

// TestSlurmRun submits what limbic cluster slurm writes for a small whole
// run (stories, extract, prefs and eval as 4 array tasks each and their
// merges; validate, the three experiments and report as one job each) to a
// real single-node Slurm, through smallLimbic, and checks the result
// against one process: stories byte-identical, vectors within 1e-6, and
// the run directory complete, report included.
func TestSlurmRun(t *testing.T) {
	c := slurmtest.Start(t, 2)
	flags := shardFlags(t)
	one, run := t.TempDir(), t.TempDir()
	limbic(t, append([]string{"stories", "--dir", one}, flags...)...)
	limbic(t, append([]string{"extract", "--dir", one}, flags...)...)

	sub := filepath.Join(run, "submit")
	small := smallLimbic(t, t.TempDir())
	limbic(t, append([]string{"cluster", "slurm", "--dir", run, "--shards", "4",
		"--cpus", "1", "--limbic", small, "--out", sub, "-q", "--"}, flags...)...)
	start := time.Now()
	if out, err := c.Command("bash", filepath.Join(sub, "submit.sh")).CombinedOutput(); err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, out)
	}
	jobs, err := c.WaitIdle(context.Background(), 5*time.Minute)
	wall := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"limbic-stories": 4, "limbic-stories-merge": 1, "limbic-extract": 4, "limbic-extract-merge": 1,
		"limbic-validate": 1, "limbic-experiment-feel": 1, "limbic-experiment-dose": 1, "limbic-experiment-implicit": 1,
		"limbic-prefs": 4, "limbic-prefs-merge": 1, "limbic-eval": 4, "limbic-eval-merge": 1, "limbic-report": 1}
	got := map[string]int{}
	for _, j := range jobs {
		got[j.Name]++
		if j.State != "COMPLETED" || j.ExitCode != "0:0" {
			t.Errorf("job %s (%s): %s, exit %s; want COMPLETED, 0:0", j.ID, j.Name, j.State, j.ExitCode)
		}
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%d jobs %s ran, want %d (all: %v)", got[name], name, n, jobs)
		}
	}
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(run, "slurm", "*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		t.FailNow()
	}
	sameFiles(t, run, one, pipeline.StoriesFile, pipeline.NeutralFile)
	runDirComplete(t, run)
	d := vectorDiff(t, run, one)
	t.Logf("Slurm: %d jobs in %.1f s; stories byte-identical, vectors within %.3g (relative) of one process", len(jobs), wall.Seconds(), d)
	if !(d <= 1e-6) {
		t.Errorf("vectors differ by %g (relative) from one process's, want ≤ 1e-6", d)
	}
}
