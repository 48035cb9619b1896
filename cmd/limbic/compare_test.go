package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareSameModel: a model compared with itself shows no change, the
// JSON carries the promised fields and the files are written.
func TestCompareSameModel(t *testing.T) {
	pack := writeTestPack(t)
	out := t.TempDir()
	var res struct {
		Emotions []struct {
			Emotion string   `json:"emotion"`
			A       *float64 `json:"a"`
			B       *float64 `json:"b"`
			Diff    *float64 `json:"diff"`
		} `json:"emotions"`
		RProfiles *float64 `json:"r_profiles"`
		RChange   *float64 `json:"r_change"`
		Layer     int      `json:"layer"`
	}
	s := limbic(t, "compare", "stories15m", "stories15m", "--vectors", pack, "--json", "-q", "--out", out)
	if err := json.Unmarshal([]byte(s), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
	if got, want := len(res.Emotions), 4; got != want {
		t.Fatalf("%d emotions, want %d", got, want)
	}
	for _, e := range res.Emotions {
		if e.A == nil || e.B == nil || e.Diff == nil || !(*e.Diff == 0) || !(*e.A == *e.B) {
			t.Errorf("%s: a, b, diff %v %v %v: want values and no change", e.Emotion, e.A, e.B, e.Diff)
		}
	}
	if res.RProfiles == nil || !(*res.RProfiles >= 0.999999) {
		t.Errorf("r_profiles %v, want 1", res.RProfiles)
	}
	if res.RChange != nil {
		t.Errorf("r_change %v, want null (no change)", *res.RChange)
	}
	if got, want := res.Layer, 4; got != want {
		t.Errorf("layer %d, want the pack's best layer %d", got, want)
	}
	for _, f := range []string{"compare.json", "compare.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestCompareErrors(t *testing.T) {
	pack := writeTestPack(t)
	gpt2 := filepath.Join("..", "..", "testdata", "reference", "synthetic", "gpt2", "model-f32.gguf")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"compare", "stories15m", gpt2, "--vectors", pack}, "differ in width"},
		{[]string{"compare", "stories15m", "stories15m", "--vectors", pack, "--layer", "2:3"}, "want one layer"},
		{[]string{"compare", "stories15m", "stories15m", "--vectors", pack, "--prompts", "/nonexistent/p.tsv"}, "p.tsv"},
		{[]string{"compare", "stories15m"}, "accepts 2 arg"},
	}
	for _, tt := range tests {
		out, err := exec.Command(bin, append(tt.args, "-q")...).CombinedOutput()
		if err == nil {
			t.Errorf("limbic %v succeeded", tt.args)
			continue
		}
		if s := string(out); !strings.HasPrefix(s, "limbic: ") || !strings.Contains(s, tt.want) || strings.Contains(s, "panic") {
			t.Errorf("limbic %v: output %q, want a one-line error containing %q", tt.args, s, tt.want)
		}
	}
}
