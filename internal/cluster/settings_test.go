package cluster

import (
	"strings"
	"testing"
)

// TestSettings: the run's settings reach the stories and extract tasks, in
// the Slurm scripts and in the Kubernetes Jobs, and no merge or other step.
func TestSettings(t *testing.T) {
	p := testPlan()
	p.Settings = []string{"--emotions", "core", "--per-topic", "8"}
	const want = "--emotions core --per-topic 8"
	files, err := Slurm(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		has := strings.Contains(string(b), want)
		if wantHas := name == "stories.sbatch" || name == "extract.sbatch"; has != wantHas {
			t.Errorf("%s: has the settings %v, want %v", name, has, wantHas)
		}
	}
	jobs, _, err := K8s(p)
	if err != nil {
		t.Fatal(err)
	}
	// Each Job's command is a YAML list: the settings appear as its items.
	if got, wantN := strings.Count(string(jobs), "- --per-topic\n"), 2; got != wantN {
		t.Errorf("the settings appear in %d Kubernetes Jobs, want %d (stories and extract)", got, wantN)
	}
}
