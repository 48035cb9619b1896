package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/internal/testref"
)

// readF32 reads a tensor of a safetensors file as float32 with its shape.
func readF32(t *testing.T, path, name string) ([]float32, []int) {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.F32()
	if err != nil {
		t.Fatal(err)
	}
	// The file is mapped: copy out before it is closed.
	return append([]float32(nil), v...), append([]int(nil), x.Shape...)
}

// TestCaptureAttentionAndPatch captures the attention pattern in
// TransformerLens' [head, query, key] shape, then patches a second prompt
// with the first one's last-layer residual stream: its logits become the
// first prompt's.
func TestCaptureAttentionAndPatch(t *testing.T) {
	testref.Stories15M(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	limbic(t, "capture", "--ids", "1,9038,2501,263,931", "--hook", "blocks.*.attn.hook_pattern", "--hook", "blocks.-1.hook_resid_post",
		"--hook", "blocks.0.attn.hook_z", "--out", a, "-q")
	pat, shape := readF32(t, a, "blocks.2.attn.hook_pattern")
	if got, want := fmt.Sprint(shape), "[6 5 5]"; got != want {
		t.Fatalf("pattern shape %s, want %s", got, want)
	}
	for h := 0; h < 6; h++ {
		for q := 0; q < 5; q++ {
			sum := 0.0
			for k := 0; k < 5; k++ {
				v := float64(pat[(h*5+q)*5+k])
				if k > q && v != 0 {
					t.Errorf("head %d query %d key %d: %g, want 0 (masked)", h, q, k, v)
				}
				sum += v
			}
			if !(math.Abs(sum-1) <= 1e-5) {
				t.Errorf("head %d query %d: pattern sums to %g, want 1", h, q, sum)
			}
		}
	}
	if _, shape := readF32(t, a, "blocks.0.attn.hook_z"); fmt.Sprint(shape) != "[5 6 48]" {
		t.Errorf("hook_z shape %v, want [5 6 48]", shape)
	}

	limbic(t, "capture", "--ids", "1,9038,2501,263,1522", "--patch", a+":blocks.-1.hook_resid_post", "--out", b, "-q")
	la, _ := readF32(t, a, "logits")
	lb, _ := readF32(t, b, "logits")
	worst := 0.0
	for i := range la {
		worst = math.Max(worst, math.Abs(float64(la[i]-lb[i])))
	}
	if !(worst <= 1e-5) {
		t.Errorf("patched logits differ from the source run's by %g", worst)
	}
	// Patching only the last position leaves the others as they were.
	c := filepath.Join(dir, "c.safetensors")
	limbic(t, "capture", "--ids", "1,9038,2501,263,1522", "--patch", a+":blocks.-1.hook_resid_post@-1", "--out", c, "-q")
	lc, _ := readF32(t, c, "logits")
	v := len(lc) / 5
	if d := math.Abs(float64(lc[4*v] - la[4*v])); !(d <= 1e-5) {
		t.Errorf("last position: patched logit differs from the source's by %g", d)
	}
	if d := math.Abs(float64(lc[3*v+7] - lb[3*v+7])); !(d <= 1e-5) {
		t.Errorf("position 3: logit changed by %g by a patch at position 4 only", d)
	}
}

func TestPatchCommand(t *testing.T) {
	testref.Stories15M(t)
	out := filepath.Join(t.TempDir(), "names")
	limbic(t, "patch", "--clean", "Tom and Sam went to the park. Sam gave the ball to",
		"--corrupt", "Tom and Sam went to the park. Tom gave the ball to", "--metric", "logit-diff:Tom,Sam", "--out", out, "-q")
	var res struct {
		Clean, Corrupt float64
		Normalized     [][]float64
	}
	b, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if !(res.Clean > 0) || !(res.Corrupt < 0) || len(res.Normalized) != 6 {
		t.Errorf("clean %g corrupt %g, %d rows: want clean > 0 > corrupt, 6 rows", res.Clean, res.Corrupt, len(res.Normalized))
	}
	for _, ext := range []string{".tsv", ".svg"} {
		if _, err := os.Stat(out + ext); err != nil {
			t.Error(err)
		}
	}
	never := filepath.Join(t.TempDir(), "never")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--clean", "Tom went home.", "--corrupt", "Lily went home.", "--metric", "logit-diff:Tom,Sam"}, "same length"},
		{[]string{"--clean", "Tom went.", "--corrupt", "Sam went.", "--metric", "logit-diff:Tom,Sam went"}, "want one"},
		{[]string{"--clean", "Tom went.", "--corrupt", "Sam went.", "--metric", "prob:Tom"}, "logit-diff"},
	} {
		cmd := exec.Command(bin, append([]string{"patch", "--out", never}, tt.args...)...)
		got, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(got), tt.want) {
			t.Errorf("patch %v: %v, %s; want an error containing %q", tt.args, err, got, tt.want)
		}
	}
	if _, err := os.Stat(never + ".json"); err == nil {
		t.Error("a failed patch wrote its output")
	}
	bad := exec.Command(bin, "capture", "--ids", "1,2,3", "--patch", out+".json", "--out", never)
	if got, err := bad.CombinedOutput(); err == nil {
		t.Errorf("capture --patch with a JSON file: no error (%s)", got)
	}
}

// TestCaptureSteer captures with and without --steer at layer 2: layer 1 is
// untouched, and layer 2's residual stream moves by the same vector at
// every position (steering runs before the capture).
func TestCaptureSteer(t *testing.T) {
	testref.Stories15M(t)
	pack := writeTestPack(t)
	dir := t.TempDir()
	plain, steered := filepath.Join(dir, "p.safetensors"), filepath.Join(dir, "s.safetensors")
	args := []string{"capture", "--ids", "1,9038,2501,263,931", "--hook", "blocks.1:2.hook_resid_post", "-q"}
	limbic(t, append(args, "--out", plain)...)
	limbic(t, append(args, "--out", steered, "--vectors", pack, "--steer", "calm=0.5@2")...)
	p1, _ := readF32(t, plain, "blocks.1.hook_resid_post")
	s1, _ := readF32(t, steered, "blocks.1.hook_resid_post")
	for i := range p1 {
		if p1[i] != s1[i] {
			t.Fatalf("layer 1 changed by steering at layer 2 (index %d: %g, %g)", i, p1[i], s1[i])
		}
	}
	p2, _ := readF32(t, plain, "blocks.2.hook_resid_post")
	s2, _ := readF32(t, steered, "blocks.2.hook_resid_post")
	d := len(p2) / 5
	norm := 0.0
	for j := 0; j < d; j++ {
		v0 := float64(s2[j] - p2[j])
		norm += v0 * v0
		for r := 1; r < 5; r++ {
			if v := float64(s2[r*d+j] - p2[r*d+j]); !(math.Abs(v-v0) <= 1e-4) {
				t.Fatalf("position %d dim %d: moved by %g, position 0 by %g: want the same vector", r, j, v, v0)
			}
		}
	}
	if !(norm > 1e-6) {
		t.Errorf("steering at layer 2 did not move layer 2 (|Δ|² = %g)", norm)
	}
}
