package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterCLI: the flags reach the files (shards per step, steps,
// resources, --model passed on), --out writes executable scripts, and bad
// flags are one-line errors naming the flag.
func TestClusterCLI(t *testing.T) {
	out := t.TempDir()
	limbic(t, "--model", "stories15m", "cluster", "slurm", "--dir", "/shared/run", "--shards", "2,stories=8,validate=1",
		"--steps", "stories,extract,validate", "--cpus", "4", "--mem", "2G", "--time", "30", "--out", out, "-q")
	for _, tc := range []struct{ file, want string }{
		{"stories.sbatch", "#SBATCH --array=0-7\n"},
		{"stories.sbatch", `exec limbic stories --dir /shared/run --model stories15m --shard "${SLURM_ARRAY_TASK_ID}/8"` + "\n"},
		{"extract.sbatch", "#SBATCH --array=0-1\n"},
		{"extract.sbatch", "#SBATCH --mem=2048M\n"},
		{"extract.sbatch", "#SBATCH --cpus-per-task=4\n"},
		{"validate.sbatch", "exec limbic validate --dir /shared/run --model stories15m\n"},
		{"submit.sh", "limbic_validate=$(submit --dependency=afterok:$limbic_extract_merge --kill-on-invalid-dep=yes validate.sbatch)\n"},
	} {
		b, err := os.ReadFile(filepath.Join(out, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s lacks %q:\n%s", tc.file, tc.want, b)
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 6 { // 3 steps, 2 merges, submit.sh
		t.Errorf("%d files in --out, want 6", len(entries))
	}
	for _, e := range entries {
		if fi, err := e.Info(); err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Errorf("%s: mode %v, %v; want executable", e.Name(), fi.Mode(), err)
		}
	}

	// prefs and eval: shards, merged by their own command with --merge,
	// the run's --seed passed to prefs.
	all := t.TempDir()
	limbic(t, "cluster", "slurm", "--dir", "/shared/run", "--shards", "1,prefs=3,eval=2", "--out", all, "-q", "--", "--seed", "9")
	for _, tc := range []struct{ file, want string }{
		{"prefs.sbatch", "#SBATCH --array=0-2\n"},
		{"prefs.sbatch", `exec limbic prefs --dir /shared/run --seed 9 --shard "${SLURM_ARRAY_TASK_ID}/3"` + "\n"},
		{"prefs-merge.sbatch", "exec limbic prefs --dir /shared/run --seed 9 --merge\n"},
		{"eval.sbatch", `exec limbic eval --dir /shared/run --shard "${SLURM_ARRAY_TASK_ID}/2"` + "\n"},
		{"eval-merge.sbatch", "exec limbic eval --dir /shared/run --merge\n"},
		{"experiment-dose.sbatch", "exec limbic experiment dose --dir /shared/run\n"},
		{"stories.sbatch", "exec limbic stories --dir /shared/run --seed 9\n"},
	} {
		b, err := os.ReadFile(filepath.Join(all, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s lacks %q:\n%s", tc.file, tc.want, b)
		}
	}

	y := limbic(t, "cluster", "k8s", "--dir", "/runs/r", "--image", "example.com/limbic:1", "--steps", "report")
	for _, want := range []string{"kind: Job\n", "name: limbic-report\n", "image: example.com/limbic:1\n", "claimName: limbic-runs\n", "- /usr/local/bin/limbic\n"} {
		if !strings.Contains(y, want) {
			t.Errorf("k8s output lacks %q:\n%s", want, y)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "slurm"}, "--dir"},
		{[]string{"cluster", "slurm", "--dir", "/r", "--shards", "0"}, "--shards"},
		{[]string{"cluster", "slurm", "--dir", "/r", "--shards", "report=4"}, "step report runs as one task"},
		{[]string{"cluster", "slurm", "--dir", "/r", "--shards", "experiment-feel=2"}, "step experiment-feel runs as one task"},
		{[]string{"cluster", "slurm", "--dir", "/r", "--shards", "story=4"}, `unknown step "story"`},
		{[]string{"cluster", "slurm", "--dir", "/r", "--steps", "stories,reprot"}, `unknown step "reprot"`},
		{[]string{"cluster", "slurm", "--dir", "/r", "--mem", "16 GB"}, "--mem"},
		{[]string{"cluster", "slurm", "--dir", "/r", "--mem", "16X"}, "--mem"},
		{[]string{"cluster", "slurm", "--dir", "/r", "--cpus", "-1"}, "--cpus"},
		{[]string{"cluster", "slurm", "--dir", "/r", "--time", "soon"}, "time limit"},
		{[]string{"cluster", "k8s", "--dir", "/r"}, "--image"},
		{[]string{"cluster", "k8s", "--dir", "r", "--image", "x"}, "absolute"},
		{[]string{"cluster", "k8s", "--dir", "/r", "--image", "x", "--claim", "Runs"}, "volume claim"},
	} {
		b, err := exec.Command(bin, tc.args...).CombinedOutput()
		s := string(b)
		if err == nil || !strings.HasPrefix(s, "limbic: ") || strings.Count(s, "\n") != 1 || !strings.Contains(s, tc.want) {
			t.Errorf("limbic %v: %v, %q; want a one-line error containing %q", tc.args, err, s, tc.want)
		}
	}
}

func TestParseMiB(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"", 0, true}, {"512", 512, true}, {"512M", 512, true}, {"512Mi", 512, true}, {"16G", 16384, true},
		{"16Gi", 16384, true}, {"1T", 1 << 20, true}, {"2GB", 2048, true}, {"0", 0, false}, {"-1G", 0, false},
		{"1.5G", 0, false}, {"G", 0, false}, {"16 G", 0, false}, {"16K", 0, false}, {"99999999999T", 0, false},
	} {
		got, err := parseMiB(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseMiB(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestDockerfileMatchesK8s: the image puts limbic where the Jobs run it and
// runs as the user whose group the Jobs give the volume (fsGroup).
func TestDockerfileMatchesK8s(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	path := newClusterK8sCmd().Flag("limbic").DefValue
	y := limbic(t, "cluster", "k8s", "--dir", "/runs/r", "--image", "x", "--steps", "report")
	for _, want := range []string{"COPY --from=build /out/limbic " + path + "\n", `ENTRYPOINT ["` + path + `"]`, "USER 65532:65532\n", "CGO_ENABLED=0 go build"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !strings.Contains(y, "fsGroup: 65532\n") || !strings.Contains(y, "- "+path+"\n") {
		t.Errorf("the Jobs do not run %s with fsGroup 65532:\n%s", path, y)
	}
}
