package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/internal/cluster"
	"github.com/limbic-dev/limbic/science/shard"
)

// clusterFlags are the flags of limbic cluster slurm and k8s.
type clusterFlags struct {
	dir, out, shards, mem, steps, limbic, name string
	cpus, gpus                                 int
}

func (f *clusterFlags) add(c *cobra.Command, limbicDefault, limbicWhere string) {
	fl := c.Flags()
	fl.StringVar(&f.dir, "dir", "", "the run directory, a path every task sees (required)")
	fl.StringVarP(&f.out, "out", "o", "", "write the files into this directory (default: print them)")
	fl.StringVar(&f.shards, "shards", "4", "shards of each shardable step: N, or a list such as 8,stories=16,validate=1 (a bare N for all, STEP=N for one)")
	fl.StringVar(&f.steps, "steps", "", "only these steps, comma-separated, of: "+strings.Join(stepNames(), ", ")+" (default: all, as limbic run)")
	fl.IntVar(&f.cpus, "cpus", 0, "CPU cores per task (default: the scheduler's)")
	fl.StringVar(&f.mem, "mem", "", "memory per task, such as 16G or 512M (binary units; a bare number is MiB; default: the scheduler's)")
	fl.IntVar(&f.gpus, "gpus", 0, "GPUs per shard task (limbic has no GPU backend yet: this only reserves them)")
	fl.StringVar(&f.limbic, "limbic", limbicDefault, "the limbic binary "+limbicWhere)
	fl.StringVar(&f.name, "name", "limbic", "prefix of the job names")
}

func stepNames() []string {
	var names []string
	for _, s := range cluster.RunSteps(1) {
		names = append(names, s.Name)
	}
	return names
}

// settingsOnly accepts arguments only after "--": the run's settings,
// passed to the stories and extract commands.
func settingsOnly(cmd *cobra.Command, args []string) error {
	if n := cmd.ArgsLenAtDash(); (n < 0 && len(args) > 0) || n > 0 {
		return fmt.Errorf("unexpected argument %q: the run's settings (flags of limbic stories and extract) go after --", args[0])
	}
	return nil
}

// plan turns the flags into a cluster plan.
func (f *clusterFlags) plan(cmd *cobra.Command) (cluster.Plan, error) {
	if f.dir == "" {
		return cluster.Plan{}, fmt.Errorf("--dir: the run directory is required")
	}
	if f.cpus < 0 || f.gpus < 0 {
		return cluster.Plan{}, fmt.Errorf("--cpus %d, --gpus %d: must not be negative", f.cpus, f.gpus)
	}
	mem, err := parseMiB(f.mem)
	if err != nil {
		return cluster.Plan{}, err
	}
	steps, err := selectSteps(f.steps, f.shards)
	if err != nil {
		return cluster.Plan{}, err
	}
	var flags []string
	for _, name := range []string{"model", "dtype", "ctx"} {
		if fl := cmd.Flag(name); fl != nil && fl.Changed {
			flags = append(flags, "--"+name, fl.Value.String())
		}
	}
	return cluster.Plan{
		Name: f.name, Dir: f.dir, Limbic: f.limbic, Flags: flags,
		Res: cluster.Resources{CPUs: f.cpus, MemMiB: mem, GPUs: f.gpus}, Steps: steps,
	}, nil
}

// selectSteps returns limbic run's steps, only those named in only (all
// when empty), with their shard counts from the --shards list.
func selectSteps(only, shards string) ([]cluster.Step, error) {
	all := cluster.RunSteps(1)
	known := stepNames()
	count := 1
	per := map[string]int{}
	for _, item := range strings.Split(shards, ",") {
		item = strings.TrimSpace(item)
		name, val, isStep := strings.Cut(item, "=")
		if !isStep {
			val = name
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > shard.MaxCount {
			return nil, fmt.Errorf("--shards %q: %q: want a count from 1 to %d", shards, item, shard.MaxCount)
		}
		if !isStep {
			count = n
			continue
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("--shards %q: unknown step %q (steps: %s)", shards, name, strings.Join(known, ", "))
		}
		if n > 1 && !cluster.Shardable(name) {
			return nil, fmt.Errorf("--shards %q: step %s runs as one task", shards, name)
		}
		per[name] = n
	}
	want := map[string]bool{}
	if only != "" {
		for _, name := range strings.Split(only, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(known, name) {
				return nil, fmt.Errorf("--steps: unknown step %q (steps: %s)", name, strings.Join(known, ", "))
			}
			want[name] = true
		}
	}
	var steps []cluster.Step
	for _, s := range all {
		if only != "" && !want[s.Name] {
			continue
		}
		if cluster.Shardable(s.Name) {
			s.Shards = count
		}
		if n, ok := per[s.Name]; ok {
			s.Shards = n
		}
		var after []string
		for _, a := range s.After {
			if only == "" || want[a] {
				after = append(after, a)
			}
		}
		s.After = after
		steps = append(steps, s)
	}
	return steps, nil
}

// parseMiB reads a memory size: a number of MiB, or one with the suffix
// M/Mi, G/Gi or T/Ti (binary units, as Slurm reads them).
func parseMiB(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	num := strings.TrimRight(s, "MGTiB")
	unit := strings.TrimSuffix(strings.TrimSuffix(s[len(num):], "B"), "i")
	mul, ok := map[string]int{"": 1, "M": 1, "G": 1 << 10, "T": 1 << 20}[unit]
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 1 || n > 1<<40/mul {
		return 0, fmt.Errorf("--mem %q: want a size such as 16G, 512M or 1T", s)
	}
	return n * mul, nil
}

// writeFiles writes files into dir, or prints them with a header each when
// dir is empty.
func writeFiles(dir string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if dir == "" {
		for i, n := range names {
			if i > 0 {
				fmt.Println()
			}
			fmt.Printf("# ==> %s <==\n%s", n, files[n])
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		perm := os.FileMode(0o644)
		if strings.HasSuffix(n, ".sh") || strings.HasSuffix(n, ".sbatch") {
			perm = 0o755
		}
		if err := atomicfile.WriteBytes(filepath.Join(dir, n), perm, files[n]); err != nil {
			return err
		}
	}
	if !g.quiet {
		fmt.Fprintf(os.Stderr, "wrote %d files into %s; submit with %s\n", len(names), dir, filepath.Join(dir, "submit.sh"))
	}
	return nil
}

func newClusterCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cluster slurm|k8s",
		Short: "Write the Slurm or Kubernetes files that run limbic run on many machines",
		Long: `Cluster writes the submission files for a limbic run on a cluster: each
shardable step as many tasks (a Slurm job array, a Kubernetes Indexed Job),
task I of N running "limbic STEP --dir RUN --shard I/N", then a merge task,
"limbic merge --dir RUN --step STEP"; each step waits for the ones before
it. All tasks share the run directory, so it must be on shared storage.

stories, extract, prefs and eval run in shards (--shards); prefs and eval
are merged by their own command run again with --merge in place of
--shard. validate, the experiments feel, dose and implicit, and report run
as one task each. Every command reads and writes the run directory as
limbic run lays it out (vectors.safetensors, experiments/, eval/), so the
plan for all steps gives the results and report of one limbic run.

--model, --dtype and --ctx, when given, are passed to every command; the
run's settings (flags of limbic stories and extract, such as --emotions
or --per-topic) go after "--" and are passed to the stories and extract
tasks, and --seed among them to prefs too.`,
	}
	c.AddCommand(newClusterSlurmCmd(), newClusterK8sCmd())
	return c
}

func newClusterSlurmCmd() *cobra.Command {
	var f clusterFlags
	var time string
	c := &cobra.Command{
		Use:   "slurm",
		Short: "Write sbatch scripts (job arrays) and submit.sh",
		Long: `Slurm writes one sbatch script per step (STEP.sbatch, a job array of the
step's shards), one per sharded step's merge (STEP-merge.sbatch), and
submit.sh, which submits them with sbatch --parsable, each with
--dependency=afterok on the jobs it waits for. Logs go to RUN/slurm/.
sbatch reads the partition and account from $SBATCH_PARTITION and
$SBATCH_ACCOUNT.`,
		Example: `  limbic cluster slurm --dir /scratch/$USER/runs/qwen --shards 16 --cpus 16 --mem 32G --time 4:00:00 --out slurm/
  sh slurm/submit.sh
  limbic --model Qwen/Qwen2.5-1.5B-Instruct cluster slurm --dir /scratch/runs/qwen --steps stories --shards 32`,
		Args: settingsOnly,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.plan(cmd)
			if err != nil {
				return err
			}
			p.Settings = args
			if !filepath.IsAbs(p.Dir) {
				if p.Dir, err = filepath.Abs(p.Dir); err != nil {
					return err
				}
			}
			p.Time = time
			files, err := cluster.Slurm(p)
			if err != nil {
				return err
			}
			return writeFiles(f.out, files)
		},
	}
	f.add(c, "limbic", "on the compute nodes (a path, or a name on their $PATH)")
	c.Flags().StringVar(&time, "time", "", "time limit of a task, such as 4:00:00 or 1-00:00:00 (default: the partition's)")
	return c
}

func newClusterK8sCmd() *cobra.Command {
	var f clusterFlags
	var image, claim string
	var parallelism, backoff int
	c := &cobra.Command{
		Use:   "k8s",
		Short: "Write Kubernetes Jobs (Indexed Jobs) and submit.sh",
		Long: `K8s writes the run's Kubernetes Jobs into jobs.yaml, an Indexed Job
(completionMode: Indexed) per sharded step and a Job for each merge, and
submit.sh, which creates them with kubectl in order, waiting for the Jobs
each needs (Kubernetes has no dependencies between Jobs). Without --out it
prints jobs.yaml only.

The run directory is a PersistentVolumeClaim (--claim, ReadWriteMany when
shards run on several nodes) mounted at --dir in every pod; the pods run
as user 65532, the image's, with fsGroup 65532 so they can write it.`,
		Example: `  limbic cluster k8s --dir /runs/qwen --image registry.example.com/limbic:v1 --claim limbic-runs --shards 8 --cpus 8 --mem 16G --out k8s/
  sh k8s/submit.sh
  limbic cluster k8s --dir /runs/qwen --image registry.example.com/limbic:v1 | kubectl create --dry-run=server -f -`,
		Args: settingsOnly,
		RunE: func(cmd *cobra.Command, args []string) error {
			if image == "" {
				return fmt.Errorf("--image: the container image is required (see the Dockerfile)")
			}
			if parallelism < 0 || backoff < 0 {
				return fmt.Errorf("--parallelism %d, --backoff-limit-per-index %d: must not be negative", parallelism, backoff)
			}
			p, err := f.plan(cmd)
			if err != nil {
				return err
			}
			p.Settings = args
			p.Image, p.Claim, p.Parallelism, p.BackoffLimitPerIndex = image, claim, parallelism, backoff
			jobs, submit, err := cluster.K8s(p)
			if err != nil {
				return err
			}
			if f.out == "" {
				_, err := os.Stdout.Write(jobs)
				return err
			}
			return writeFiles(f.out, map[string][]byte{"jobs.yaml": jobs, "submit.sh": submit})
		},
	}
	f.add(c, "/usr/local/bin/limbic", "in the image")
	fl := c.Flags()
	fl.StringVar(&image, "image", "", "container image holding limbic, built from the Dockerfile (required)")
	fl.StringVar(&claim, "claim", "limbic-runs", "PersistentVolumeClaim holding the run directory")
	fl.IntVar(&parallelism, "parallelism", 0, "most pods of a step at once (default: all its shards)")
	fl.IntVar(&backoff, "backoff-limit-per-index", 2, "retries of a failed shard")
	return c
}
