package slurmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestArray runs a job array of four tasks and a job that waits for it,
// and checks what each task saw of its place in the array.
func TestArray(t *testing.T) {
	c := Start(t, 2)
	out := t.TempDir()
	script := fmt.Sprintf(`#!/bin/bash
#SBATCH --array=0-3
#SBATCH --output=%[1]s/task_%%a.log
echo "$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT" > %[1]s/task_$SLURM_ARRAY_TASK_ID.txt
`, out)
	path := filepath.Join(out, "array.sbatch")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := c.Command("sbatch", "--parsable", path).Output()
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	after := fmt.Sprintf("#!/bin/bash\n#SBATCH --output=%[1]s/after.log\ncat %[1]s/task_*.txt | wc -l > %[1]s/after.txt\n", out)
	if err := os.WriteFile(path, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Command("sbatch", "--dependency=afterok:"+strings.TrimSpace(string(id)), path).Run(); err != nil {
		t.Fatalf("sbatch --dependency: %v", err)
	}
	jobs, err := c.WaitIdle(context.Background(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 5 {
		t.Errorf("got %d jobs %v, want 4 array tasks and 1", len(jobs), jobs)
	}
	for _, j := range jobs {
		if j.State != "COMPLETED" {
			t.Errorf("job %s: %s (exit %s), want COMPLETED", j.ID, j.State, j.ExitCode)
		}
	}
	var got []string
	for i := 0; i < 4; i++ {
		b, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("task_%d.txt", i)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(string(b)))
	}
	if want := []string{"0 4", "1 4", "2 4", "3 4"}; !slices.Equal(got, want) {
		t.Errorf("tasks saw %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(out, "after.txt")); err != nil || strings.TrimSpace(string(b)) != "4" {
		t.Errorf("the dependent job saw %q (%v), want 4 task files", b, err)
	}
}
