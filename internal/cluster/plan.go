package cluster

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/limbic-dev/limbic/science/shard"
)

// Resources are what one task of a step asks the scheduler for; zero means
// the scheduler's default.
type Resources struct {
	CPUs   int // cores per task
	MemMiB int // memory per task, MiB
	GPUs   int // GPUs per task
}

// Step is one step of a run.
type Step struct {
	Name   string   // names jobs and files: a lowercase label such as "stories" or "experiment-feel"
	Args   []string // the limbic command, such as ["experiment", "feel"]
	Shards int      // tasks; 1 runs the step as one task with no merge
	After  []string // steps, earlier in the plan, that must have finished first
	// Rerun makes the merge task the step's own command again, with
	// --merge instead of --shard (limbic prefs and eval pool their shards
	// so, with the model loaded), rather than limbic merge --step NAME.
	Rerun bool
}

// Plan is a run on a cluster.
type Plan struct {
	Name   string   // prefix of job names: a lowercase label, default "limbic"
	Dir    string   // the run directory, an absolute path every task sees
	Limbic string   // the limbic binary: on the nodes (Slurm) or in the image (Kubernetes); default "limbic"
	Flags  []string // flags added to every command, such as ["--model", "stories15m"]
	// Settings are flags added to the commands of the stories and extract
	// steps only (not to their merges): the run's settings, such as
	// ["--emotions", "core", "--per-topic", "8"], which every shard and the
	// one-process run must share. A --seed among them goes to the prefs
	// tasks too (limbic run seeds its preference experiment with it).
	Settings []string
	Res      Resources
	Steps    []Step

	// Slurm
	Time string // time limit of a task (#SBATCH --time), such as "2:00:00"; "" for the partition's default

	// Kubernetes
	Image                string // container image holding limbic
	Claim                string // PersistentVolumeClaim mounted at Dir
	Parallelism          int    // most pods of a step at once; 0 for all
	BackoffLimitPerIndex int    // retries of a failed shard (of a failed single task: backoffLimit)
}

// RunSteps returns the steps of limbic run in order, the Shardable ones
// with shards shards, the others as one task each: stories → extract →
// validate → the experiments, prefs and eval (side by side) → report.
func RunSteps(shards int) []Step {
	after := []string{"validate"}
	steps := []Step{
		{Name: "stories", Args: []string{"stories"}, Shards: shards},
		{Name: "extract", Args: []string{"extract"}, Shards: shards, After: []string{"stories"}},
		{Name: "validate", Args: []string{"validate"}, Shards: 1, After: []string{"extract"}},
		{Name: "experiment-feel", Args: []string{"experiment", "feel"}, Shards: 1, After: after},
		{Name: "experiment-dose", Args: []string{"experiment", "dose"}, Shards: 1, After: after},
		{Name: "experiment-implicit", Args: []string{"experiment", "implicit"}, Shards: 1, After: after},
		{Name: "prefs", Args: []string{"prefs"}, Shards: shards, After: after, Rerun: true},
		{Name: "eval", Args: []string{"eval"}, Shards: shards, After: after, Rerun: true},
		{Name: "report", Args: []string{"report"}, Shards: 1,
			After: []string{"experiment-feel", "experiment-dose", "experiment-implicit", "prefs", "eval"}},
	}
	return steps
}

// Shardable reports whether the step of limbic run with this name runs in
// shards (limbic STEP --shard I/N, then a merge): stories and extract, the
// bulk of the vectors' work, and prefs and eval, the bulk of the
// experiments'. The three sanity experiments are short, and validate and
// report read everything.
func Shardable(name string) bool {
	return name == "stories" || name == "extract" || name == "prefs" || name == "eval"
}

var label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// maxName is the longest Kubernetes Job name (it becomes a label value).
const maxName = 63

// withDefaults returns p with its defaults filled in, or an error naming
// the first bad field.
func (p Plan) withDefaults() (Plan, error) {
	if p.Name == "" {
		p.Name = "limbic"
	}
	if p.Limbic == "" {
		p.Limbic = "limbic"
	}
	if !label.MatchString(p.Name) {
		return p, fmt.Errorf("cluster: name %q: want lowercase letters, digits and '-', starting and ending with a letter or digit", p.Name)
	}
	if p.Dir == "" || !path.IsAbs(p.Dir) {
		return p, fmt.Errorf("cluster: run directory %q: want an absolute path that every task sees", p.Dir)
	}
	if p.Res.CPUs < 0 || p.Res.MemMiB < 0 || p.Res.GPUs < 0 {
		return p, fmt.Errorf("cluster: resources %+v: want no negative amounts", p.Res)
	}
	if p.Parallelism < 0 || p.BackoffLimitPerIndex < 0 {
		return p, fmt.Errorf("cluster: parallelism %d, backoff limit %d: want no negative numbers", p.Parallelism, p.BackoffLimitPerIndex)
	}
	if len(p.Steps) == 0 {
		return p, fmt.Errorf("cluster: no steps")
	}
	seen := map[string]bool{}
	for _, s := range p.Steps {
		if !label.MatchString(s.Name) {
			return p, fmt.Errorf("cluster: step %q: want lowercase letters, digits and '-'", s.Name)
		}
		if seen[s.Name] {
			return p, fmt.Errorf("cluster: step %q appears twice", s.Name)
		}
		if n := len(p.Name) + 1 + len(s.Name) + len("-merge"); n > maxName {
			return p, fmt.Errorf("cluster: job name %s-%s-merge is %d characters, over Kubernetes' %d", p.Name, s.Name, n, maxName)
		}
		if len(s.Args) == 0 {
			return p, fmt.Errorf("cluster: step %q has no command", s.Name)
		}
		if s.Shards < 1 || s.Shards > shard.MaxCount {
			return p, fmt.Errorf("cluster: step %q: %d shards, want 1 to %d", s.Name, s.Shards, shard.MaxCount)
		}
		for _, a := range s.After {
			if !seen[a] {
				return p, fmt.Errorf("cluster: step %q comes after %q, which is not an earlier step", s.Name, a)
			}
		}
		seen[s.Name] = true
	}
	return p, nil
}

// command returns a task's command line: limbic, the step's command, --dir,
// the plan's flags, the settings a step shares with the run (all of them
// for stories and extract, --seed for prefs), and --shard INDEX/N when the
// step is sharded and index is not "" (index is the scheduler's expression
// for the task's index).
func (p Plan) command(s Step, index string) []string {
	c := append([]string{p.Limbic}, s.Args...)
	c = append(c, "--dir", p.Dir)
	c = append(c, p.Flags...)
	switch s.Name {
	case "stories", "extract":
		c = append(c, p.Settings...)
	case "prefs":
		c = append(c, seed(p.Settings)...)
	}
	if s.Shards > 1 && index != "" {
		c = append(c, "--shard", fmt.Sprintf("%s/%d", index, s.Shards))
	}
	return c
}

// seed returns the --seed flag among the run's settings (the seed of the
// preference experiment in limbic run), or nothing.
func seed(settings []string) []string {
	var out []string
	for i, a := range settings {
		if v, ok := strings.CutPrefix(a, "--seed="); ok {
			out = []string{"--seed", v}
		} else if a == "--seed" && i+1 < len(settings) {
			out = []string{"--seed", settings[i+1]}
		}
	}
	return out
}

// mergeCommand returns the command of a sharded step's merge task: limbic
// merge --step NAME, or the step's command with --merge for a Rerun step.
func (p Plan) mergeCommand(s Step) []string {
	if s.Rerun {
		return append(p.command(s, ""), "--merge")
	}
	c := []string{p.Limbic, "merge", "--dir", p.Dir, "--step", s.Name}
	return append(c, p.Flags...)
}

// mergeRes returns the resources of a step's merge task: the step's, less
// the GPUs unless the merge runs the model (Rerun).
func (p Plan) mergeRes(s Step) Resources {
	res := p.Res
	if !s.Rerun {
		res.GPUs = 0
	}
	return res
}

// last returns the name of a step's final job: its merge when sharded.
func (p Plan) last(s Step) string {
	if s.Shards > 1 {
		return p.job(s) + "-merge"
	}
	return p.job(s)
}

func (p Plan) job(s Step) string { return p.Name + "-" + s.Name }

func (p Plan) step(name string) Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	panic("cluster: unknown step " + name) // withDefaults checked After
}
