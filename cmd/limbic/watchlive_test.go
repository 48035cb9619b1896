package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/train/checkpoint"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// TestWatchLiveTuneKilledMidCheckpoint runs limbic tune (the engine's
// backward pass, full fine-tuning of stories15M) as a process, kills it
// with SIGKILL while a checkpoint is being written, and watches the run
// with limbic watch --once: the torn checkpoint is never recorded, the
// complete ones are; after the run is resumed and finished, a second watch
// evaluates exactly the new checkpoints, so every checkpoint is evaluated
// once in all.
func TestWatchLiveTuneKilledMidCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("trains stories15M in a child process")
	}
	m, err := model.Load(context.Background(), "", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dim, layers := m.Dim, m.Layers
	m.Close()
	dir := t.TempDir()
	data := writeData(t, toyStories(16)...)
	out := filepath.Join(dir, "run")
	args := []string{"tune", "-q", "--data", data, "--out", out, "--steps", "24", "--save-every", "2", "--batch", "2",
		"--seq-len", "32", "--val", "0", "--seed", "3", "--threads", "1"}

	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once a checkpoint's temporary directory holds part of its files,
	// after at least two checkpoints are complete.
	var torn string
	for deadline := time.Now().Add(3 * time.Minute); torn == "" && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if !checkpoint.Complete(checkpoint.Dir(out, 4)) {
			continue
		}
		es, _ := os.ReadDir(out)
		for _, e := range es {
			if strings.HasPrefix(e.Name(), ".checkpoint-") && strings.Contains(e.Name(), ".tmp-") {
				if fs, _ := os.ReadDir(filepath.Join(out, e.Name())); len(fs) > 0 && len(fs) < 4 {
					cmd.Process.Signal(syscall.SIGKILL)
					torn = e.Name()
					break
				}
			}
		}
	}
	cmd.Wait()
	if torn == "" {
		t.Fatal("caught no checkpoint being written within 3 minutes")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("tune was not killed: %v", cmd.ProcessState)
	}
	tornStep := strings.TrimPrefix(strings.SplitN(torn, ".tmp-", 2)[0], ".checkpoint-")
	t.Logf("killed while writing %s (checkpoint-%s)", torn, tornStep)

	pack := filepath.Join(dir, "pack.safetensors")
	if err := vecpack.Write(pack, testpack.Random(testpack.Options{Emotions: []string{"calm", "desperate"}, D: dim, Layers: layers, BestLayer: 3, Seed: 1})); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "watch.db")
	watch := func() []int {
		var steps []int
		for _, line := range strings.Split(strings.TrimSpace(limbic(t, "watch", out, "--once", "--json", "-q", "--base", "stories15m", "--vectors", pack, "--db", db)), "\n") {
			if line == "" {
				continue
			}
			var j struct {
				Step int `json:"step"`
			}
			if err := json.Unmarshal([]byte(line), &j); err != nil {
				t.Fatalf("watch line %q: %v", line, err)
			}
			steps = append(steps, j.Step)
		}
		return steps
	}
	complete := func() []int {
		var steps []int
		for s := 1; s <= 24; s++ {
			if checkpoint.Complete(checkpoint.Dir(out, s)) {
				steps = append(steps, s)
			}
		}
		return steps
	}
	first := watch()
	if got, want := first, complete(); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("after the kill watch evaluated steps %v, want the complete checkpoints %v", got, want)
	}
	for _, s := range first {
		if fmt.Sprint(s) == tornStep {
			t.Errorf("the torn checkpoint-%s was recorded", tornStep)
		}
	}

	if _, err := exec.Command(bin, append(args, "--resume")...).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v", err)
	}
	second := watch()
	all := append(append([]int(nil), first...), second...)
	sort.Ints(all)
	if want := complete(); !slices.Equal(all, want) || len(want) != 12 {
		t.Errorf("watch evaluated %v then %v, want every one of %v exactly once", first, second, want)
	}
	if again := watch(); len(again) != 0 {
		t.Errorf("a third watch evaluated %v again", again)
	}
}
