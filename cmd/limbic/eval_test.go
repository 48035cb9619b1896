package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const evalScenario = `name: cookie
prompt: "Tom looked at the last cookie. He"
rollouts: 3
max_tokens: 4
sampling: {temperature: 1}
seed: 5
target: ate
grader:
  type: rules
  rules:
    - label: ate
      any: ['\b(ate|eat)\b']
    - label: other
      any: ['.']
sweep:
  emotions: [happy]
  strengths: [0]
`

// TestEvalJSON: an unsteered sweep needs no pack and prints the promised
// JSON shape; a second run reads the rollouts back.
func TestEvalJSON(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "cookie.yaml")
	if err := os.WriteFile(sc, []byte(evalScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		out := limbic(t, "eval", sc, "--out", filepath.Join(dir, "out"), "--json", "-q")
		var doc struct {
			Scenarios []struct {
				Name      string `json:"name"`
				Generated int    `json:"generated"`
				Cells     []struct {
					Emotion  string     `json:"emotion"`
					Strength *float64   `json:"strength"`
					Layer    *string    `json:"layer"`
					Rate     *float64   `json:"rate"`
					CI       [2]float64 `json:"ci"`
					N        *int       `json:"n"`
				} `json:"cells"`
			} `json:"scenarios"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		if len(doc.Scenarios) != 1 || doc.Scenarios[0].Name != "cookie" || len(doc.Scenarios[0].Cells) != 1 {
			t.Fatalf("run %d: got %s, want one scenario with one cell", run, out)
		}
		c := doc.Scenarios[0].Cells[0]
		if c.Emotion != "happy" || c.Strength == nil || c.Layer == nil || c.N == nil || *c.N != 3 || c.Rate == nil || !(c.CI[0] <= *c.Rate && *c.Rate <= c.CI[1]) {
			t.Errorf("run %d: cell %+v, want happy, n 3, a rate inside its interval", run, c)
		}
		if got, want := doc.Scenarios[0].Generated, 3*(1-run); got != want {
			t.Errorf("run %d: generated %d, want %d", run, got, want)
		}
	}
	for _, f := range []string{"cookie.jsonl", "cookie.svg", "eval.json"} {
		if _, err := os.Stat(filepath.Join(dir, "out", f)); err != nil {
			t.Errorf("output %s: %v", f, err)
		}
	}
}

// TestEvalErrors: bad scenario files fail with one line naming the file
// and the field.
func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"grader.yaml", "type: rules", "type: vibes", "grader.type"},
		{"regex.yaml", `'\b(ate|eat)\b'`, `'(ate'`, "grader.rules[0].any[0]"},
		{"missing.yaml", "max_tokens: 4\n", "", "max_tokens: missing"},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(strings.Replace(evalScenario, c.old, c.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "eval", p, "--out", filepath.Join(dir, "out")).CombinedOutput()
		s := string(out)
		if err == nil || !strings.HasPrefix(s, "limbic: ") || strings.Count(s, "\n") != 1 || !strings.Contains(s, c.name) || !strings.Contains(s, c.want) {
			t.Errorf("%s: err %v, output %q; want a one-line error naming the file and %q", c.name, err, s, c.want)
		}
	}
	out, err := exec.Command(bin, "eval", "no-such-scenario").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "share-toy") {
		t.Errorf("unknown shipped name: err %v, output %q; want an error listing the shipped ones", err, out)
	}
}
