package cluster

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Slurm returns the Slurm batch scripts of the plan, by file name: for each
// step STEP.sbatch (a job array of Shards tasks when sharded) and, when
// sharded, STEP-merge.sbatch; and submit.sh, which submits them all with
// sbatch --parsable, chaining each to what it waits for with
// --dependency=afterok (and --kill-on-invalid-dep=yes, so that a failure
// cancels what waits on it instead of leaving it pending). Task logs go to
// RUN/slurm/NAME-STEP_%A_%a.out.
func Slurm(p Plan) (map[string][]byte, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	if p.Time != "" && !slurmTime.MatchString(p.Time) {
		return nil, fmt.Errorf("cluster: time limit %q: want minutes, H:MM:SS or D-HH:MM:SS", p.Time)
	}
	if !slurmPath.MatchString(p.Dir) {
		return nil, fmt.Errorf("cluster: run directory %q: #SBATCH lines take a path of letters, digits and _./+,:@=- only (no spaces, quotes, $ or %%)", p.Dir)
	}
	logs := path.Join(p.Dir, "slurm")
	files := map[string][]byte{}
	var submit strings.Builder
	submit.WriteString(`#!/bin/bash
# Submits the steps of the limbic run in ` + p.Dir + ` to Slurm, each waiting
# for the ones before it. Written by limbic cluster slurm.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p ` + quote(logs) + `

# submit [SBATCH-OPTION...] SCRIPT prints the job id.
submit() {
	local id
	id=$(sbatch --parsable "$@") || return
	echo "${id%%;*}"
}

`)
	for _, s := range p.Steps {
		var deps []string
		for _, a := range s.After {
			deps = append(deps, "$"+shellVar(p.last(p.step(a))))
		}
		id := shellVar(p.job(s))
		fmt.Fprintf(&submit, "%s=$(submit%s %s.sbatch)\n", id, dependency(deps), s.Name)
		files[s.Name+".sbatch"] = p.sbatch(s, p.job(s), logs, p.Res, s.Shards, p.command(s, "${SLURM_ARRAY_TASK_ID}"))
		if s.Shards > 1 {
			merge := p.job(s) + "-merge"
			fmt.Fprintf(&submit, "%s=$(submit%s %s-merge.sbatch)\n", shellVar(merge), dependency([]string{"$" + id}), s.Name)
			files[s.Name+"-merge.sbatch"] = p.sbatch(s, merge, logs, p.mergeRes(s), 1, p.mergeCommand(s))
		}
	}
	last := p.Steps[len(p.Steps)-1]
	fmt.Fprintf(&submit, "\necho \"submitted; the last job is $%s; logs in %s\"\n", shellVar(p.last(last)), logs)
	files["submit.sh"] = []byte(submit.String())
	return files, nil
}

// slurmPath matches the run directories that go into #SBATCH --output
// unquoted and without Slurm's %-patterns.
var slurmPath = regexp.MustCompile(`^[A-Za-z0-9_./+,:@=-]+$`)

// slurmTime matches sbatch --time's forms.
var slurmTime = regexp.MustCompile(`^(\d+-)?\d+(:\d+){0,2}$`)

// sbatch returns one batch script.
func (p Plan) sbatch(s Step, job, logs string, res Resources, tasks int, cmd []string) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	what := "step " + s.Name
	if tasks == 1 && s.Shards > 1 {
		what = "merge of the " + fmt.Sprint(s.Shards) + " shards of step " + s.Name
	} else if tasks > 1 {
		what += fmt.Sprintf(", %d shards", tasks)
	}
	fmt.Fprintf(&b, "# limbic run in %s: %s. Written by limbic cluster slurm.\n", p.Dir, what)
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", job)
	if tasks > 1 {
		fmt.Fprintf(&b, "#SBATCH --array=0-%d\n", tasks-1)
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", path.Join(logs, job+"_%A_%a.out"))
	} else {
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", path.Join(logs, job+"_%j.out"))
	}
	b.WriteString("#SBATCH --ntasks=1\n")
	if res.CPUs > 0 {
		fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", res.CPUs)
	}
	if res.MemMiB > 0 {
		fmt.Fprintf(&b, "#SBATCH --mem=%dM\n", res.MemMiB)
	}
	if res.GPUs > 0 {
		fmt.Fprintf(&b, "#SBATCH --gres=gpu:%d\n", res.GPUs)
	}
	if p.Time != "" {
		fmt.Fprintf(&b, "#SBATCH --time=%s\n", p.Time)
	}
	b.WriteString("set -euo pipefail\n")
	if res.CPUs > 0 {
		b.WriteString("export GOMAXPROCS=\"${SLURM_CPUS_PER_TASK:-" + fmt.Sprint(res.CPUs) + "}\"\n")
	}
	quoted := make([]string, len(cmd))
	for i, a := range cmd {
		quoted[i] = quote(a)
		if strings.Contains(a, "${SLURM_ARRAY_TASK_ID}") {
			quoted[i] = `"` + a + `"`
		}
	}
	b.WriteString("exec " + strings.Join(quoted, " ") + "\n")
	return []byte(b.String())
}

// dependency returns the submit options that make a job wait for deps.
func dependency(deps []string) string {
	if len(deps) == 0 {
		return ""
	}
	return " --dependency=afterok:" + strings.Join(deps, ":") + " --kill-on-invalid-dep=yes"
}

// shellVar turns a job name into a shell variable name.
func shellVar(job string) string { return strings.ReplaceAll(job, "-", "_") }

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:=,+@%-]+$`)

// quote returns s as one shell word.
func quote(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
