package patching

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testref"
)

// TestSweepNamesOnModel patches a prompt pair with the names swapped on the
// embedded model: the clean prompt asks for Tom, the corrupted one for Sam.
func TestSweepNamesOnModel(t *testing.T) {
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	clean := m.Tok.Encode("Tom and Sam went to the park. Sam gave the ball to", true)
	corrupt := m.Tok.Encode("Tom and Sam went to the park. Tom gave the ball to", true)
	if len(clean) != len(corrupt) {
		t.Fatalf("prompts tokenize to %d and %d tokens", len(clean), len(corrupt))
	}
	diff := -1 // the one position where the prompts differ
	for i := range clean {
		if clean[i] != corrupt[i] {
			if diff >= 0 {
				t.Fatalf("prompts differ at positions %d and %d", diff, i)
			}
			diff = i
		}
	}
	one := func(s string) int {
		ids := m.Tok.Encode(s, false)
		if len(ids) != 1 {
			t.Fatalf("%q is %d tokens", s, len(ids))
		}
		return ids[0]
	}
	mt := Metric{A: one("Tom"), B: one("Sam"), NameA: "Tom", NameB: "Sam"}
	res, err := Sweep(m.Transformer, clean, corrupt, "blocks.*.hook_resid_pre", mt, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The model knows the answer: Tom after the clean prompt, Sam after the corrupted.
	if !(res.Clean > 0) || !(res.Corrupt < 0) {
		t.Errorf("clean %g, corrupt %g: want clean > 0 > corrupt", res.Clean, res.Corrupt)
	}
	if got, want := len(res.Patched), m.Layers; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	for l, row := range res.Normalized {
		for pos, v := range row {
			switch {
			case l == 0 && pos == diff:
				// Layer 0's resid_pre is the whole input at a position:
				// patching the differing token's makes the corrupted run clean.
				if !(math.Abs(v-1) <= 1e-4) {
					t.Errorf("layer 0 position %d: normalized %g, want 1", pos, v)
				}
			case pos < diff:
				// Before the difference the activations are identical.
				if v != 0 {
					t.Errorf("layer %d position %d (before the difference): normalized %g, want exactly 0", l, pos, v)
				}
			}
		}
	}
	// At the last layer the answer lives at the last position.
	last := res.Normalized[m.Layers-1]
	if v := last[len(last)-1]; !(v > 0.5) {
		t.Errorf("last layer, last position: normalized %g, want > 0.5", v)
	}

	// Exactness: patching nothing gives corrupt; patching the last
	// layer's resid_post at every position gives clean.
	if v, err := Run(m.Transformer, corrupt, nil, mt); err != nil || v != res.Corrupt {
		t.Errorf("no patch: %g, %v; want corrupt %g", v, err, res.Corrupt)
	}
	p := hook.Block(m.Layers-1, hook.ResidPost)
	c, err := model.Capture(m.Transformer, clean, []string{p.String()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Run(m.Transformer, corrupt, []*model.Patch{model.PatchFromCapture(c.Hook(p), nil)}, mt)
	if err != nil || !(math.Abs(v-res.Clean) <= 1e-5) {
		t.Errorf("last resid_post patched everywhere: %g, %v; want clean %g", v, err, res.Clean)
	}

	// The files.
	dir := t.TempDir()
	for _, w := range []struct {
		name  string
		write func(string) error
		want  string
	}{
		{"r.json", res.WriteJSON, `"normalized"`},
		{"r.tsv", res.WriteTSV, "blocks.5.hook_resid_pre\t5\t"},
		{"r.svg", res.WriteSVG, "</svg>"},
	} {
		path := filepath.Join(dir, w.name)
		if err := w.write(path); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), w.want) {
			t.Errorf("%s: %v; does not contain %q", w.name, err, w.want)
		}
	}
	if got, want := strings.Count(mustRead(t, filepath.Join(dir, "r.svg")), "<rect x="), m.Layers*len(clean)+21; got != want {
		t.Errorf("svg has %d rects, want %d (cells and legend)", got, want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSweepErrors(t *testing.T) {
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mt := Metric{A: 1, B: 2}
	tests := []struct {
		name           string
		clean, corrupt []int
		hook           string
		want           string
	}{
		{"lengths", []int{1, 5, 6}, []int{1, 5}, "blocks.*.hook_resid_pre", "same length"},
		{"same prompt", []int{1, 5, 6}, []int{1, 5, 6}, "blocks.*.hook_resid_pre", "nothing to restore"},
		{"not a block hook", []int{1, 5, 6}, []int{1, 7, 6}, "hook_embed", "block hook"},
		{"bad hook", []int{1, 5, 6}, []int{1, 7, 6}, "blocks.*.hook_nope", "unknown block hook"},
	}
	for _, tt := range tests {
		_, err := Sweep(m.Transformer, tt.clean, tt.corrupt, tt.hook, mt, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestParseMetric(t *testing.T) {
	lookup := func(s string) (int, error) {
		if id, ok, err := ParseTokenID(s, 100); ok {
			return id, err
		}
		return len(s), nil
	}
	tests := []struct {
		in    string
		a, b  int
		isErr bool
	}{
		{"logit-diff:ab,abc", 2, 3, false},
		{"logit-diff:#7,#9", 7, 9, false},
		{"logit-diff:#7,#700", 0, 0, true},
		{"logit-diff:ab,cd", 0, 0, true}, // the same token
		{"logit-diff:ab", 0, 0, true},
		{"prob:ab,c", 0, 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMetric(tt.in, lookup)
		if (err != nil) != tt.isErr || (!tt.isErr && (got.A != tt.a || got.B != tt.b)) {
			t.Errorf("ParseMetric(%q) = %+v, %v; want %d, %d, error %v", tt.in, got, err, tt.a, tt.b, tt.isErr)
		}
	}
}
