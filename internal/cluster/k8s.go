package cluster

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/limbic-dev/limbic/science/shard"
)

// The subset of Kubernetes' batch/v1 Job that K8s writes, field names as in
// k8s.io/api (the tests decode the output strictly into those types).
type (
	job struct {
		APIVersion string  `yaml:"apiVersion"`
		Kind       string  `yaml:"kind"`
		Metadata   meta    `yaml:"metadata"`
		Spec       jobSpec `yaml:"spec"`
	}
	meta struct {
		Name   string            `yaml:"name,omitempty"`
		Labels map[string]string `yaml:"labels"`
	}
	jobSpec struct {
		CompletionMode       string      `yaml:"completionMode,omitempty"`
		Completions          int         `yaml:"completions"`
		Parallelism          int         `yaml:"parallelism"`
		BackoffLimit         *int        `yaml:"backoffLimit,omitempty"`
		BackoffLimitPerIndex *int        `yaml:"backoffLimitPerIndex,omitempty"`
		Template             podTemplate `yaml:"template"`
	}
	podTemplate struct {
		Metadata meta    `yaml:"metadata"`
		Spec     podSpec `yaml:"spec"`
	}
	podSpec struct {
		RestartPolicy   string          `yaml:"restartPolicy"`
		SecurityContext securityContext `yaml:"securityContext"`
		Containers      []container     `yaml:"containers"`
		Volumes         []volume        `yaml:"volumes"`
	}
	securityContext struct {
		FSGroup int `yaml:"fsGroup"`
	}
	container struct {
		Name         string        `yaml:"name"`
		Image        string        `yaml:"image"`
		Command      []string      `yaml:"command"`
		Args         []string      `yaml:"args"`
		Env          []envVar      `yaml:"env,omitempty"`
		Resources    resources     `yaml:"resources,omitempty"`
		VolumeMounts []volumeMount `yaml:"volumeMounts"`
	}
	envVar struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	}
	resources struct {
		Requests map[string]string `yaml:"requests,omitempty"`
		Limits   map[string]string `yaml:"limits,omitempty"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}
	volume struct {
		Name                  string   `yaml:"name"`
		PersistentVolumeClaim claimRef `yaml:"persistentVolumeClaim"`
	}
	claimRef struct {
		ClaimName string `yaml:"claimName"`
	}
)

// maxIndexed is Kubernetes' limit on the completions of an Indexed Job.
const maxIndexed = 100000

// nonroot is the user and group of the distroless nonroot image the
// Dockerfile builds on; fsGroup makes the claim writable for it.
const nonroot = 65532

// K8s returns the plan's Kubernetes Jobs as one YAML stream in submission
// order (for each step its Job, an Indexed Job when sharded, then its merge
// Job), and submit.sh, which creates them with kubectl in that order, each
// once the Jobs it waits for are Complete, and stops at the first Failed
// one. The Jobs mount the claim at the run directory, run as the image's
// non-root user (fsGroup 65532) and pass a sharded task's count in
// LIMBIC_SHARD_COUNT.
func K8s(p Plan) (jobs []byte, submit []byte, err error) {
	p, err = p.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if p.Image == "" {
		return nil, nil, fmt.Errorf("cluster: no container image")
	}
	if !label.MatchString(p.Claim) {
		return nil, nil, fmt.Errorf("cluster: volume claim %q: want the name of a PersistentVolumeClaim", p.Claim)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, s := range p.Steps {
		if s.Shards > maxIndexed {
			return nil, nil, fmt.Errorf("cluster: step %q: %d shards, over Kubernetes' %d completions of an Indexed Job", s.Name, s.Shards, maxIndexed)
		}
		if err := enc.Encode(p.job8s(s, false)); err != nil {
			return nil, nil, err
		}
		if s.Shards > 1 {
			if err := enc.Encode(p.job8s(s, true)); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), p.kubectl(), nil
}

// job8s returns the Job of a step, or of its merge.
func (p Plan) job8s(s Step, merge bool) job {
	name, cmd, res := p.job(s), p.command(s, "$("+shard.K8sIndex+")"), p.Res
	if merge {
		name, cmd, res = name+"-merge", p.mergeCommand(s), p.mergeRes(s)
	}
	labels := map[string]string{"app.kubernetes.io/name": "limbic", "app.kubernetes.io/instance": p.Name, "limbic/step": s.Name}
	jobLabels := map[string]string{"limbic/job": name}
	for k, v := range labels {
		jobLabels[k] = v
	}
	c := container{
		Name: "limbic", Image: p.Image, Command: cmd[:1], Args: cmd[1:],
		VolumeMounts: []volumeMount{{Name: "run", MountPath: p.Dir}},
	}
	req, lim := map[string]string{}, map[string]string{}
	if res.CPUs > 0 {
		req["cpu"] = fmt.Sprint(res.CPUs)
		c.Env = append(c.Env, envVar{"GOMAXPROCS", fmt.Sprint(res.CPUs)})
	}
	if res.MemMiB > 0 {
		req["memory"] = fmt.Sprintf("%dMi", res.MemMiB)
		lim["memory"] = req["memory"]
	}
	if res.GPUs > 0 {
		lim["nvidia.com/gpu"] = fmt.Sprint(res.GPUs)
	}
	if len(req) > 0 {
		c.Resources.Requests = req
	}
	if len(lim) > 0 {
		c.Resources.Limits = lim
	}
	backoff := p.BackoffLimitPerIndex
	spec := jobSpec{Completions: 1, Parallelism: 1, BackoffLimit: &backoff}
	if s.Shards > 1 && !merge {
		c.Env = append(c.Env, envVar{shard.CountEnv, fmt.Sprint(s.Shards)})
		par := s.Shards
		if p.Parallelism > 0 && p.Parallelism < par {
			par = p.Parallelism
		}
		spec = jobSpec{CompletionMode: "Indexed", Completions: s.Shards, Parallelism: par, BackoffLimitPerIndex: &backoff}
	}
	spec.Template = podTemplate{
		Metadata: meta{Labels: labels},
		Spec: podSpec{
			RestartPolicy:   "Never",
			SecurityContext: securityContext{FSGroup: nonroot},
			Containers:      []container{c},
			Volumes:         []volume{{Name: "run", PersistentVolumeClaim: claimRef{ClaimName: p.Claim}}},
		},
	}
	return job{APIVersion: "batch/v1", Kind: "Job", Metadata: meta{Name: name, Labels: jobLabels}, Spec: spec}
}

// kubectl returns the submit script: steps in levels (a step's level is one
// more than the highest of those it waits for), each level's Jobs created
// together, then each awaited and merged.
func (p Plan) kubectl() []byte {
	var b strings.Builder
	b.WriteString(`#!/bin/bash
# Creates the Jobs of the limbic run in ` + p.Dir + ` (jobs.yaml, written beside
# this script) in order: Kubernetes has no dependencies between Jobs, so this
# script waits for each Job it needs to be Complete and stops at the first
# Failed one. After a failure, delete the failed Job and run it again.
# Written by limbic cluster k8s.
set -euo pipefail
cd "$(dirname "$0")"

# create JOB creates the Job named JOB from jobs.yaml (kubectl apply: a Job
# already there and unchanged is left alone).
create() {
	kubectl apply -f jobs.yaml -l "limbic/job=$1"
}

# await JOB waits until the Job is Complete; it fails when it Failed.
await() {
	local state
	while :; do
		state=$(kubectl get job "$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')
		case " $state " in
		*" Complete "*) return 0 ;;
		*" Failed "*)
			echo "job $1 failed: kubectl describe job $1" >&2
			return 1
			;;
		esac
		sleep 10
	done
}
`)
	level := map[string]int{}
	top := 0
	for _, s := range p.Steps {
		for _, a := range s.After {
			level[s.Name] = max(level[s.Name], level[a]+1)
		}
		top = max(top, level[s.Name])
	}
	for l := 0; l <= top; l++ {
		var steps []Step
		for _, s := range p.Steps {
			if level[s.Name] == l {
				steps = append(steps, s)
			}
		}
		fmt.Fprintf(&b, "\n# level %d\n", l)
		waited := map[string]bool{}
		for _, s := range steps {
			for _, a := range s.After {
				if j := p.last(p.step(a)); !waited[j] {
					waited[j] = true
					fmt.Fprintf(&b, "await %s\n", j)
				}
			}
		}
		for _, s := range steps {
			fmt.Fprintf(&b, "create %s\n", p.job(s))
		}
		for _, s := range steps {
			if s.Shards > 1 {
				fmt.Fprintf(&b, "await %s\ncreate %s-merge\n", p.job(s), p.job(s))
			}
		}
	}
	fmt.Fprintf(&b, "await %s\necho \"done: the run is in %s on claim %s\"\n", p.last(p.Steps[len(p.Steps)-1]), p.Dir, p.Claim)
	return []byte(b.String())
}
