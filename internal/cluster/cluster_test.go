package cluster

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testPlan is limbic run with 4 shards, resources, a GPU and a model flag.
func testPlan() Plan {
	return Plan{
		Dir: "/shared/runs/qwen", Limbic: "/opt/limbic/bin/limbic",
		Flags: []string{"--model", "Qwen/Qwen2.5-1.5B-Instruct"},
		Res:   Resources{CPUs: 8, MemMiB: 16384, GPUs: 1}, Steps: RunSteps(4),
		Time: "4:00:00", Image: "ghcr.io/limbic-dev/limbic:v0.1.0", Claim: "limbic-runs",
		Parallelism: 2, BackoffLimitPerIndex: 3,
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it after review):\n%s", name, got)
	}
}

func slurmFiles(t *testing.T, p Plan) map[string][]byte {
	t.Helper()
	files, err := Slurm(p)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestSlurmGolden(t *testing.T) {
	files := slurmFiles(t, testPlan())
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var all bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&all, "==> %s <==\n%s\n", n, files[n])
	}
	golden(t, "slurm.golden", all.Bytes())
}

// sbatchOptions returns a script's #SBATCH options, name → value.
func sbatchOptions(t *testing.T, script []byte) map[string]string {
	t.Helper()
	opts := map[string]string{}
	for line := range strings.Lines(string(script)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#SBATCH "); ok {
			k, v, _ := strings.Cut(rest, "=")
			opts[k] = v
		}
	}
	return opts
}

func TestSlurmScripts(t *testing.T) {
	p := testPlan()
	files := slurmFiles(t, p)
	for _, s := range p.Steps {
		script, ok := files[s.Name+".sbatch"]
		if !ok {
			t.Fatalf("no %s.sbatch", s.Name)
		}
		opts := sbatchOptions(t, script)
		wantArray := ""
		if s.Shards > 1 {
			wantArray = fmt.Sprintf("0-%d", s.Shards-1)
		}
		for k, want := range map[string]string{
			"--job-name": "limbic-" + s.Name, "--array": wantArray, "--cpus-per-task": "8",
			"--mem": "16384M", "--gres": "gpu:1", "--time": "4:00:00",
		} {
			if got := opts[k]; got != want {
				t.Errorf("%s.sbatch: %s=%q, want %q", s.Name, k, got, want)
			}
		}
		if s.Shards > 1 && !strings.HasSuffix(opts["--output"], "_%A_%a.out") {
			t.Errorf("%s.sbatch: --output=%q, want a file per array task (%%A_%%a)", s.Name, opts["--output"])
		}
		exec := "exec /opt/limbic/bin/limbic " + strings.Join(s.Args, " ") + " --dir /shared/runs/qwen --model Qwen/Qwen2.5-1.5B-Instruct"
		if s.Shards > 1 {
			exec += fmt.Sprintf(` --shard "${SLURM_ARRAY_TASK_ID}/%d"`, s.Shards)
		}
		if !bytes.Contains(script, []byte(exec+"\n")) {
			t.Errorf("%s.sbatch lacks the line %q:\n%s", s.Name, exec, script)
		}
		merge, ok := files[s.Name+"-merge.sbatch"]
		if ok != (s.Shards > 1) {
			t.Errorf("%s: merge script present %v, want %v", s.Name, ok, s.Shards > 1)
		}
		if ok {
			mo := sbatchOptions(t, merge)
			wantCmd, wantGPU := mergeWant(s)
			if gres := map[bool]string{true: "gpu:1"}[wantGPU]; mo["--array"] != "" || mo["--gres"] != gres || mo["--job-name"] != "limbic-"+s.Name+"-merge" {
				t.Errorf("%s-merge.sbatch: options %v, want no array, --gres %q, job limbic-%s-merge", s.Name, mo, gres, s.Name)
			}
			if want := "exec " + wantCmd + "\n"; !bytes.Contains(merge, []byte(want)) {
				t.Errorf("%s-merge.sbatch lacks %q:\n%s", s.Name, want, merge)
			}
		}
	}
	if want := len(p.Steps) + 4 + 1; len(files) != want {
		t.Errorf("%d files, want %d (steps, 4 merges, submit.sh)", len(files), want)
	}
}

// mergeWant returns the command line of a sharded step's merge task in
// testPlan and whether it asks for the GPU: limbic merge for stories and
// extract, the step's own command with --merge (and the model, so the GPU)
// for prefs and eval.
func mergeWant(s Step) (string, bool) {
	switch s.Name {
	case "prefs", "eval":
		return "/opt/limbic/bin/limbic " + s.Name + " --dir /shared/runs/qwen --model Qwen/Qwen2.5-1.5B-Instruct --merge", true
	}
	return "/opt/limbic/bin/limbic merge --dir /shared/runs/qwen --step " + s.Name + " --model Qwen/Qwen2.5-1.5B-Instruct", false
}

// fakeBin puts an executable script named name first on PATH.
func fakeBin(t *testing.T, name, script string) string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/bash\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return bin
}

// TestSlurmSubmit runs submit.sh against a fake sbatch that logs its
// arguments and answers job ids 101, 102, ...: every job must wait for
// exactly the final jobs of the steps it comes after.
func TestSlurmSubmit(t *testing.T) {
	p := testPlan()
	p.Dir = t.TempDir() // submit.sh makes the log folder in it
	files := slurmFiles(t, p)
	dir := t.TempDir()
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(t.TempDir(), "log")
	fakeBin(t, "sbatch", `n=$(( $(wc -l < "`+log+`" 2>/dev/null || echo 0) + 101 ))
echo "$n $*" >> "`+log+`"
echo "$n;cluster"
`)
	out, err := exec.Command("bash", filepath.Join(dir, "submit.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "slurm")); err != nil {
		t.Errorf("submit.sh did not make the log folder: %v", err)
	}
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}    // script → job id
	deps := map[string][]string{} // script → scripts it waits for
	byID := map[string]string{}
	for line := range strings.Lines(string(raw)) {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "--parsable" {
			t.Fatalf("sbatch called as %q", line)
		}
		script := f[len(f)-1]
		ids[script], byID[f[0]] = f[0], script
		for _, o := range f[2 : len(f)-1] {
			if d, ok := strings.CutPrefix(o, "--dependency=afterok:"); ok {
				for _, id := range strings.Split(d, ":") {
					if byID[id] == "" {
						t.Errorf("%s waits for job %q, not submitted before it", script, id)
					}
					deps[script] = append(deps[script], byID[id])
				}
			}
		}
	}
	final := func(step string) string {
		if p.step(step).Shards > 1 {
			return step + "-merge.sbatch"
		}
		return step + ".sbatch"
	}
	for _, s := range p.Steps {
		var want []string
		for _, a := range s.After {
			want = append(want, final(a))
		}
		if got := deps[s.Name+".sbatch"]; !slices.Equal(got, want) {
			t.Errorf("%s.sbatch waits for %v, want %v", s.Name, got, want)
		}
		if s.Shards > 1 {
			if got, want := deps[s.Name+"-merge.sbatch"], []string{s.Name + ".sbatch"}; !slices.Equal(got, want) {
				t.Errorf("%s-merge.sbatch waits for %v, want %v", s.Name, got, want)
			}
		}
	}
	if len(ids) != len(files)-1 {
		t.Errorf("submit.sh submitted %d scripts, want %d", len(ids), len(files)-1)
	}
}

func k8sJobs(t *testing.T, p Plan) ([]byte, []byte) {
	t.Helper()
	jobs, submit, err := K8s(p)
	if err != nil {
		t.Fatal(err)
	}
	return jobs, submit
}

func TestK8sGolden(t *testing.T) {
	jobs, submit := k8sJobs(t, testPlan())
	golden(t, "k8s.golden", jobs)
	golden(t, "k8s-submit.golden", submit)
}

// documents splits a YAML stream into its documents.
func documents(t *testing.T, stream []byte) [][]byte {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	var docs [][]byte
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
}

// strictJobs decodes each document strictly into Kubernetes' Job type:
// an unknown or misspelt field is an error.
func strictJobs(stream []byte) ([]batchv1.Job, error) {
	var jobs []batchv1.Job
	for i, doc := range strings.Split(string(stream), "\n---\n") {
		var j batchv1.Job
		js, err := sigsyaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		// Case-sensitive, as the API server decodes (encoding/json would
		// accept "mountpath" for mountPath).
		strict, err := sigsjson.UnmarshalStrict(js, &j, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("document %d: %w", i, errors.Join(strict...))
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func TestK8sStrict(t *testing.T) {
	p := testPlan()
	stream, _ := k8sJobs(t, p)
	if got, want := len(documents(t, stream)), len(p.Steps)+4; got != want {
		t.Fatalf("%d YAML documents, want %d", got, want)
	}
	jobs, err := strictJobs(stream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Steps {
		names = append(names, "limbic-"+s.Name)
		if s.Shards > 1 {
			names = append(names, "limbic-"+s.Name+"-merge")
		}
	}
	if len(jobs) != len(names) {
		t.Fatalf("%d jobs, want %d", len(jobs), len(names))
	}
	for i, j := range jobs {
		if j.APIVersion != "batch/v1" || j.Kind != "Job" || j.Name != names[i] {
			t.Errorf("document %d: %s %s %q, want batch/v1 Job %q", i, j.APIVersion, j.Kind, j.Name, names[i])
		}
		if j.Labels["limbic/job"] != j.Name {
			t.Errorf("%s: label limbic/job=%q, want the job's name (submit.sh selects by it)", j.Name, j.Labels["limbic/job"])
		}
		pod := j.Spec.Template.Spec
		if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 || len(pod.Volumes) != 1 {
			t.Fatalf("%s: pod %+v, want restartPolicy Never, one container, one volume", j.Name, pod)
		}
		c := pod.Containers[0]
		if c.Image != p.Image || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != p.Dir ||
			c.VolumeMounts[0].Name != pod.Volumes[0].Name || pod.Volumes[0].PersistentVolumeClaim == nil ||
			pod.Volumes[0].PersistentVolumeClaim.ClaimName != p.Claim {
			t.Errorf("%s: image %q, mounts %+v, volumes %+v; want %q with claim %q at %q", j.Name, c.Image, c.VolumeMounts, pod.Volumes, p.Image, p.Claim, p.Dir)
		}
		if q := c.Resources.Requests[corev1.ResourceCPU]; q.Cmp(resource.MustParse("8")) != 0 {
			t.Errorf("%s: cpu request %s, want 8", j.Name, q.String())
		}
		if q := c.Resources.Limits[corev1.ResourceMemory]; q.Cmp(resource.MustParse("16Gi")) != 0 {
			t.Errorf("%s: memory limit %s, want 16Gi", j.Name, q.String())
		}
		cmd := strings.Join(append(c.Command, c.Args...), " ")
		merge := strings.HasSuffix(j.Name, "-merge")
		gpu := c.Resources.Limits["nvidia.com/gpu"]
		if merge {
			want, wantGPU := mergeWant(p.step(strings.TrimSuffix(strings.TrimPrefix(j.Name, "limbic-"), "-merge")))
			if j.Spec.CompletionMode != nil || *j.Spec.Completions != 1 || gpu.IsZero() == wantGPU {
				t.Errorf("%s: completion mode %v, completions %d, GPUs %s; want a single task, a GPU %v", j.Name, j.Spec.CompletionMode, *j.Spec.Completions, gpu.String(), wantGPU)
			}
			if cmd != want {
				t.Errorf("%s: command %q, want %q", j.Name, cmd, want)
			}
			continue
		}
		s := p.step(strings.TrimPrefix(j.Name, "limbic-"))
		if gpu.Cmp(resource.MustParse("1")) != 0 {
			t.Errorf("%s: GPU limit %s, want 1", j.Name, gpu.String())
		}
		if s.Shards == 1 {
			if j.Spec.CompletionMode != nil || *j.Spec.Completions != 1 || strings.Contains(cmd, "--shard") {
				t.Errorf("%s: unsharded step as %v with %d completions, command %q", j.Name, j.Spec.CompletionMode, *j.Spec.Completions, cmd)
			}
			continue
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if j.Spec.CompletionMode == nil || *j.Spec.CompletionMode != batchv1.IndexedCompletion ||
			*j.Spec.Completions != int32(s.Shards) || *j.Spec.Parallelism != 2 ||
			j.Spec.BackoffLimitPerIndex == nil || *j.Spec.BackoffLimitPerIndex != 3 ||
			env["LIMBIC_SHARD_COUNT"] != fmt.Sprint(s.Shards) {
			t.Errorf("%s: spec %+v, env %v; want Indexed, %d completions, parallelism 2, backoffLimitPerIndex 3, LIMBIC_SHARD_COUNT", j.Name, j.Spec, env, s.Shards)
		}
		if want := fmt.Sprintf(" --shard $(JOB_COMPLETION_INDEX)/%d", s.Shards); !strings.HasSuffix(cmd, want) {
			t.Errorf("%s: command %q, want it to end with %q", j.Name, cmd, want)
		}
	}
}

// TestK8sStrictCatchesMisspelling shows that the strict decoding fails on a
// field Kubernetes does not know, so TestK8sStrict can fail.
func TestK8sStrictCatchesMisspelling(t *testing.T) {
	stream, _ := k8sJobs(t, testPlan())
	for _, tc := range []struct{ from, to string }{
		{"completionMode:", "completionMod:"},
		{"backoffLimitPerIndex:", "backoffLimitPerindex:"},
		{"claimName:", "claim:"},
		{"mountPath:", "mountpath:"},
	} {
		bad := bytes.Replace(stream, []byte(tc.from), []byte(tc.to), 1)
		if bytes.Equal(bad, stream) {
			t.Fatalf("the YAML has no %q", tc.from)
		}
		if _, err := strictJobs(bad); err == nil || !strings.Contains(err.Error(), strings.TrimSuffix(tc.to, ":")) {
			t.Errorf("%s → %s: error %v, want one naming the unknown field", tc.from, tc.to, err)
		}
	}
}

// TestK8sSubmit runs submit.sh against a fake kubectl whose Jobs are all
// Complete: it must create every Job once, each after the Jobs it needs.
func TestK8sSubmit(t *testing.T) {
	p, err := testPlan().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	jobs, submit := k8sJobs(t, p)
	dir := t.TempDir()
	for n, b := range map[string][]byte{"jobs.yaml": jobs, "submit.sh": submit} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(t.TempDir(), "log")
	fakeBin(t, "kubectl", `echo "$*" >> "`+log+`"
case "$1" in
get) echo "Complete " ;;
apply) [ "$2 $3 $4" = "-f jobs.yaml -l" ] || exit 2 ;;
*) exit 3 ;;
esac
`)
	out, err := exec.Command("bash", filepath.Join(dir, "submit.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]int{} // job → position of its creation
	awaited := map[string]int{} // job → position of its first wait
	get := regexp.MustCompile(`^get job (\S+) -o jsonpath=`)
	i := 0
	for line := range strings.Lines(string(raw)) {
		i++
		if j, ok := strings.CutPrefix(strings.TrimSpace(line), "apply -f jobs.yaml -l limbic/job="); ok {
			if _, dup := created[j]; dup {
				t.Errorf("job %s created twice", j)
			}
			created[j] = i
		} else if m := get.FindStringSubmatch(line); m != nil {
			if _, ok := awaited[m[1]]; !ok {
				awaited[m[1]] = i
			}
		} else {
			t.Errorf("kubectl called as %q", line)
		}
	}
	for _, s := range p.Steps {
		at, ok := created[p.job(s)]
		if !ok {
			t.Errorf("job %s never created", p.job(s))
			continue
		}
		for _, a := range s.After {
			need := p.last(p.step(a))
			if w, ok := awaited[need]; !ok || !(w < at) || !(created[need] < w) {
				t.Errorf("job %s created at call %d; %s created at %d, awaited at %d (ok %v); want created, then awaited, then %s", p.job(s), at, need, created[need], w, ok, p.job(s))
			}
		}
		if s.Shards > 1 {
			m := p.job(s) + "-merge"
			if w, ok := awaited[p.job(s)]; !ok || !(at < w) || !(w < created[m]) {
				t.Errorf("merge %s created at %d, step awaited at %d (ok %v), step created at %d", m, created[m], w, ok, at)
			}
		}
	}
	if want := len(documents(t, jobs)); len(created) != want {
		t.Errorf("%d jobs created, want %d", len(created), want)
	}
}

func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Plan)
		err  string
	}{
		{"relative dir", func(p *Plan) { p.Dir = "runs/x" }, `run directory "runs/x"`},
		{"no dir", func(p *Plan) { p.Dir = "" }, "run directory"},
		{"bad name", func(p *Plan) { p.Name = "Limbic_1" }, `name "Limbic_1"`},
		{"long name", func(p *Plan) { p.Name = strings.Repeat("a", 50) }, "over Kubernetes' 63"},
		{"zero shards", func(p *Plan) { p.Steps[0].Shards = 0 }, `step "stories": 0 shards`},
		{"dup step", func(p *Plan) { p.Steps[1].Name = "stories" }, `"stories" appears twice`},
		{"after later", func(p *Plan) { p.Steps[0].After = []string{"report"} }, `after "report", which is not an earlier step`},
		{"no command", func(p *Plan) { p.Steps[2].Args = nil }, `"validate" has no command`},
		{"negative mem", func(p *Plan) { p.Res.MemMiB = -1 }, "no negative"},
		{"no steps", func(p *Plan) { p.Steps = nil }, "no steps"},
	} {
		p := testPlan()
		tc.edit(&p)
		_, serr := Slurm(p)
		_, _, kerr := K8s(p)
		for which, err := range map[string]error{"Slurm": serr, "K8s": kerr} {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %s error %v, want one containing %q", tc.name, which, err, tc.err)
			}
		}
	}
	p := testPlan()
	p.Time = "4 hours"
	if _, err := Slurm(p); err == nil || !strings.Contains(err.Error(), `"4 hours"`) {
		t.Errorf("Slurm with time %q: %v, want an error naming it", p.Time, err)
	}
	for _, tc := range []struct {
		edit func(*Plan)
		err  string
	}{
		{func(p *Plan) { p.Image = "" }, "no container image"},
		{func(p *Plan) { p.Claim = "" }, "volume claim"},
		{func(p *Plan) { p.Steps[0].Shards = maxIndexed + 1 }, "over Kubernetes' 100000"},
	} {
		p := testPlan()
		tc.edit(&p)
		if _, _, err := K8s(p); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("K8s: %v, want an error containing %q", err, tc.err)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/a/b", "/a/b"}, {"a b", "'a b'"}, {"it's", `'it'\''s'`}, {"$HOME", "'$HOME'"}, {"", "''"},
	} {
		if got := quote(tc.in); got != tc.want {
			t.Errorf("quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// A flag with a space and a quote survives into the command.
	p := testPlan()
	p.Flags = []string{"--model", "/models/my model's"}
	files := slurmFiles(t, p)
	if want := `--model '/models/my model'\''s'`; !bytes.Contains(files["stories.sbatch"], []byte(want)) {
		t.Errorf("stories.sbatch lacks %s:\n%s", want, files["stories.sbatch"])
	}
	// A run directory #SBATCH cannot carry is an error, not a broken script.
	for _, dir := range []string{"/shared/my run", "/runs/%j", "/runs/$USER", "/runs/it's"} {
		p.Dir = dir
		if _, err := Slurm(p); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", dir)) {
			t.Errorf("Slurm with --dir %q: %v, want an error naming it", dir, err)
		}
	}
}

// TestSlurmTaskRuns runs a task's script as Slurm would (array task 3) with
// a fake limbic that prints its arguments: the shard and a flag with a space
// and a quote must reach it as single arguments.
func TestSlurmTaskRuns(t *testing.T) {
	bin := fakeBin(t, "limbic", `printf '%s\n' "$@"; echo "GOMAXPROCS=$GOMAXPROCS"`)
	p := testPlan()
	p.Limbic = filepath.Join(bin, "limbic")
	p.Flags = []string{"--model", "/models/my model's"}
	files := slurmFiles(t, p)
	for _, tc := range []struct {
		script string
		want   []string
	}{
		{"stories.sbatch", []string{"stories", "--dir", "/shared/runs/qwen", "--model", "/models/my model's", "--shard", "3/4", "GOMAXPROCS=8"}},
		{"stories-merge.sbatch", []string{"merge", "--dir", "/shared/runs/qwen", "--step", "stories", "--model", "/models/my model's", "GOMAXPROCS=8"}},
		{"report.sbatch", []string{"report", "--dir", "/shared/runs/qwen", "--model", "/models/my model's", "GOMAXPROCS=8"}},
	} {
		script := filepath.Join(t.TempDir(), tc.script)
		if err := os.WriteFile(script, files[tc.script], 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=3", "SLURM_CPUS_PER_TASK=8")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.script, err, out)
		}
		if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, tc.want) {
			t.Errorf("%s ran limbic with %q, want %q", tc.script, got, tc.want)
		}
	}
}

// TestCommandSettings: the run's settings reach the stories and extract
// tasks whole and the prefs tasks (shards and merge) as the seed only, in
// either spelling of --seed; the other steps get none.
func TestCommandSettings(t *testing.T) {
	for _, settings := range [][]string{
		{"--emotions", "core", "--seed", "7", "--per-topic", "2"},
		{"--emotions", "core", "--seed=7", "--per-topic", "2"},
	} {
		p := testPlan()
		p.Flags = nil
		p.Settings = settings
		all := strings.Join(settings, " ")
		for _, tc := range []struct {
			step, want, wantMerge string
		}{
			{"stories", "limbic stories --dir /shared/runs/qwen " + all + " --shard I/4", "limbic merge --dir /shared/runs/qwen --step stories"},
			{"extract", "limbic extract --dir /shared/runs/qwen " + all + " --shard I/4", "limbic merge --dir /shared/runs/qwen --step extract"},
			{"validate", "limbic validate --dir /shared/runs/qwen", ""},
			{"experiment-feel", "limbic experiment feel --dir /shared/runs/qwen", ""},
			{"prefs", "limbic prefs --dir /shared/runs/qwen --seed 7 --shard I/4", "limbic prefs --dir /shared/runs/qwen --seed 7 --merge"},
			{"eval", "limbic eval --dir /shared/runs/qwen --shard I/4", "limbic eval --dir /shared/runs/qwen --merge"},
			{"report", "limbic report --dir /shared/runs/qwen", ""},
		} {
			s := p.step(tc.step)
			got := strings.TrimPrefix(strings.Join(p.command(s, "I"), " "), "/opt/limbic/bin/")
			if got != tc.want {
				t.Errorf("settings %q, step %s: %q, want %q", settings, tc.step, got, tc.want)
			}
			if s.Shards > 1 {
				got := strings.TrimPrefix(strings.Join(p.mergeCommand(s), " "), "/opt/limbic/bin/")
				if got != tc.wantMerge {
					t.Errorf("settings %q, merge of %s: %q, want %q", settings, tc.step, got, tc.wantMerge)
				}
			} else if tc.wantMerge != "" {
				t.Errorf("step %s runs as one task, want %d shards", tc.step, 4)
			}
		}
	}
}

// TestSlurmSubmitStopsOnFailure: when sbatch refuses a script, submit.sh
// stops with an error instead of submitting the rest without dependencies.
func TestSlurmSubmitStopsOnFailure(t *testing.T) {
	p := testPlan()
	p.Dir = t.TempDir()
	dir := t.TempDir()
	for n, b := range slurmFiles(t, p) {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(t.TempDir(), "log")
	fakeBin(t, "sbatch", `echo "$*" >> "`+log+`"
case "$*" in *extract.sbatch) echo "sbatch: error: invalid partition" >&2; exit 1 ;; esac
echo "1;cluster"
`)
	out, err := exec.Command("bash", filepath.Join(dir, "submit.sh")).CombinedOutput()
	if err == nil {
		t.Fatalf("submit.sh succeeded though sbatch failed:\n%s", out)
	}
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "\n"); n != 3 {
		t.Errorf("sbatch called %d times, want 3 (stories, its merge, extract, then stop):\n%s", n, raw)
	}
}
