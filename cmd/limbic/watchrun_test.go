package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// TestWatchOnceJSON: limbic watch --once --json prints one line per
// complete checkpoint with its readout and alerts, writes the training
// report, and a second run prints nothing (each checkpoint evaluated once).
func TestWatchOnceJSON(t *testing.T) {
	m, err := model.Load(context.Background(), "", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"5", "10"} {
		ck := filepath.Join(run, "checkpoint-"+step)
		if err := m.ExportHF(ck, false); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ck, "trainer_state.json"), []byte(`{"global_step": `+step+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A checkpoint still being written: no trainer_state.json yet.
	if err := m.ExportHF(filepath.Join(run, "checkpoint-15"), false); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(dir, "pack.safetensors")
	p := testpack.Random(testpack.Options{Emotions: []string{"calm", "desperate"}, D: m.Dim, Layers: m.Layers, BestLayer: 3, Seed: 1})
	if err := vecpack.Write(pack, p); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("- {name: always, emotion: calm, stat: z, op: '>', threshold: -1000}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(dir, "watch.html")
	out := limbic(t, "watch", run, "--once", "--json", "-q", "--vectors", pack, "--rules", rules, "--report", html)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (checkpoints 5 and 10):\n%s", len(lines), out)
	}
	for i, want := range []int{5, 10} {
		var j watchJSON
		if err := json.Unmarshal([]byte(lines[i]), &j); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if j.Step != want || j.BaselineStep != 5 || j.Layer != 3 || len(j.Emotions) != 2 || j.Emotions["calm"].Z == nil || j.Emotions["calm"].ZSD == nil || j.Probes != 20 {
			t.Errorf("line %d: %+v", i, j)
		}
		// Same weights: no change since the baseline.
		if dz := j.Emotions["desperate"].DZ; dz == nil || !(*dz == 0) {
			t.Errorf("line %d: desperate dz = %v, want 0", i, dz)
		}
		wantAlerts := map[int]int{5: 1, 10: 0}[want] // fires once, stays firing
		if len(j.Alerts) != wantAlerts {
			t.Errorf("checkpoint-%d: %d alerts, want %d", want, len(j.Alerts), wantAlerts)
		}
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<svg") || !strings.Contains(string(page), "always") {
		t.Errorf("the report has no chart or no alert mark")
	}
	if out := limbic(t, "watch", run, "--once", "--json", "-q", "--vectors", pack, "--rules", rules); strings.TrimSpace(out) != "" {
		t.Errorf("second run printed:\n%s", out)
	}
}
