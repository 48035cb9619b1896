package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/science/pipeline"
)

// fakeSbatch is an sbatch that runs the script it is given at once, each
// array task (#SBATCH --array=0-N) as its own process, all at the same
// time, with SLURM_ARRAY_TASK_ID set; it logs each job's name and fails
// when a task does. submit.sh submits in an order where every job comes
// after those it waits for, so running each at submission keeps the plan's
// order.
const fakeSbatch = `#!/bin/bash
script="${@: -1}"
name=$(sed -n 's/^#SBATCH --job-name=//p' "$script")
last=$(sed -n 's/^#SBATCH --array=0-//p' "$script")
n=$(( $(wc -l < "$LOG" 2>/dev/null || echo 0) + 1 ))
echo "$name ${last:-single}" >> "$LOG"
pids=()
for i in $(seq 0 "${last:-0}"); do
	if [ -n "$last" ]; then export SLURM_ARRAY_TASK_ID=$i; fi
	bash "$script" > "$JOBS/$name.$i.out" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	if ! wait "${pids[$i]}"; then
		echo "sbatch (fake): $name task $i failed:" >&2
		cat "$JOBS/$name.$i.out" >&2
		exit 1
	fi
done
echo "$n;local"
`

// smallLimbic writes, into dir, a limbic that runs the test binary with
// small settings added per command (a five-activity list and few
// bootstrap replicates for prefs, a tiny scenario for eval, -q for all),
// so that a whole run's plan runs in seconds with its command lines as
// written; it returns its path.
func smallLimbic(t *testing.T, dir string) string {
	t.Helper()
	acts := filepath.Join(dir, "activities.txt")
	scenario := filepath.Join(dir, "cookie.yaml")
	for path, text := range map[string]string{
		acts:     "eat ice cream\nplay with a puppy\ngo to the beach\nwash the dishes\nget stung by a bee\n",
		scenario: strings.Replace(evalScenario, "strengths: [0]", "strengths: [0, 0.5]", 1),
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wrapper := filepath.Join(dir, "limbic")
	if err := os.WriteFile(wrapper, []byte(`#!/bin/bash
case "$1" in
prefs) exec "`+bin+`" "$@" --activities "`+acts+`" --names Lily --bootstrap 20 --permutations 10 -q ;;
eval) exec "`+bin+`" "$@" "`+scenario+`" -q ;;
*) exec "`+bin+`" "$@" -q ;;
esac
`), 0o755); err != nil {
		t.Fatal(err)
	}
	return wrapper
}

// runDirComplete checks that run holds what limbic run leaves: every
// experiment's results under experiments/, the scenario's rollouts under
// eval/, and report.json with every experiment in it.
func runDirComplete(t *testing.T, run string) {
	t.Helper()
	exp := filepath.Join(run, pipeline.ExpDir)
	for _, f := range []string{filepath.Join(exp, "feel.json"), filepath.Join(exp, "dose.json"), filepath.Join(exp, "implicit.json"),
		filepath.Join(exp, pipeline.PrefsFile), filepath.Join(exp, pipeline.EvalFile), filepath.Join(run, pipeline.EvalDir, "cookie.jsonl")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after the plan: %v", err)
		}
	}
	var doc struct {
		Experiments map[string]json.RawMessage `json:"experiments"`
	}
	b, err := os.ReadFile(filepath.Join(run, "report.json"))
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatalf("report.json: %v", err)
	}
	var keys []string
	for k := range doc.Experiments {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range []string{"feel", "dose", "implicit", "prefs", "behaviour"} {
		if _, ok := doc.Experiments[k]; !ok {
			t.Errorf("report.json has no %q among its experiments %v", k, keys)
		}
	}
}

// TestClusterPlanRunsLocally writes the Slurm plan of a whole limbic run
// (every step, stories, extract, prefs and eval in 2 shards each) and runs
// its submit.sh with an sbatch that executes each script on this machine:
// every generated command line must run, in order, and leave the run
// directory as limbic run does (experiments/, the report with the
// experiments, prefs and eval in it). The limbic the scripts call is a
// wrapper that adds small settings per command (a short activity list, a
// tiny scenario), so the test takes seconds; the command lines themselves
// are the plan's. The sharded prefs and eval, merged by their --merge
// reruns, must equal one process of the same command.
func TestClusterPlanRunsLocally(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to run the scripts")
	}
	tmp := t.TempDir()
	run, sub, jobs, fake := filepath.Join(tmp, "run"), filepath.Join(tmp, "submit"), filepath.Join(tmp, "jobs"), filepath.Join(tmp, "bin")
	for _, d := range []string{jobs, fake} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wrapper := smallLimbic(t, fake)
	if err := os.WriteFile(filepath.Join(fake, "sbatch"), []byte(fakeSbatch), 0o755); err != nil {
		t.Fatal(err)
	}

	settings := shardFlags(t)
	limbic(t, append([]string{"cluster", "slurm", "--dir", run, "--shards", "2", "--limbic", wrapper, "--out", sub, "-q", "--"}, settings...)...)
	start := time.Now()
	cmd := exec.Command("bash", filepath.Join(sub, "submit.sh"))
	log := filepath.Join(tmp, "sbatch.log")
	cmd.Env = append(os.Environ(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"), "LOG="+log, "JOBS="+jobs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, out)
	}
	wall := time.Since(start)
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(raw)), "\n")
	want := []string{"limbic-stories 1", "limbic-stories-merge single", "limbic-extract 1", "limbic-extract-merge single",
		"limbic-validate single", "limbic-experiment-feel single", "limbic-experiment-dose single", "limbic-experiment-implicit single",
		"limbic-prefs 1", "limbic-prefs-merge single", "limbic-eval 1", "limbic-eval-merge single", "limbic-report single"}
	if !slices.Equal(got, want) {
		t.Errorf("jobs run:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	runDirComplete(t, run)
	exp := filepath.Join(run, pipeline.ExpDir)

	// Sharded and merged equals one process: prefs byte for byte, eval's
	// cells and trends.
	cells := func(path string) string {
		t.Helper()
		var d struct {
			Scenarios []struct {
				Cells  json.RawMessage `json:"cells"`
				Trends json.RawMessage `json:"trends"`
			} `json:"scenarios"`
		}
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &d)
		}
		if err != nil || len(d.Scenarios) != 1 || len(d.Scenarios[0].Cells) < 10 {
			t.Fatalf("%s: %v, %d scenarios\n%s", path, err, len(d.Scenarios), b)
		}
		return string(d.Scenarios[0].Cells) + string(d.Scenarios[0].Trends)
	}
	merged := cells(filepath.Join(exp, pipeline.EvalFile))
	one := filepath.Join(tmp, "one")
	for _, args := range [][]string{
		// limbic run's settings spelt out: --dir gives the run's pack and
		// seed (and its emotions: here the pack's three).
		{"prefs", "--vectors", filepath.Join(run, pipeline.PackFile), "--seed", "1", "--out", filepath.Join(one, pipeline.PrefsFile)},
		{"eval", "--dir", run, "--out", filepath.Join(one, "eval")},
	} {
		if out, err := exec.Command(wrapper, args...).CombinedOutput(); err != nil {
			t.Fatalf("limbic %v: %v\n%s", args, err, out)
		}
	}
	sameFiles(t, exp, one, pipeline.PrefsFile)
	if got := cells(filepath.Join(one, "eval", pipeline.EvalFile)); got != merged {
		t.Errorf("eval of the plan (2 shards, merged) differs from one process:\n got %s\nwant %s", merged, got)
	}
	t.Logf("the plan's %d jobs ran in %.1f s", len(got), wall.Seconds())
}
