package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/internal/testref"
)

// TestConvertGGUFRoundTrip converts a synthetic checkpoint HF → GGUF (q8_0
// and f32) → HF with the CLI and checks the models load with the logits of
// the original (q8_0: of the original loaded as q8_0).
func TestConvertGGUFRoundTrip(t *testing.T) {
	src := testref.Path("synthetic", "qwen2")
	dir := t.TempDir()
	f32, q8, hf := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "m-q8.gguf"), filepath.Join(dir, "hf")
	limbic(t, "--model", src, "convert", "--to", "gguf", "--out", f32, "-q")
	limbic(t, "--model", src, "convert", "--to", "gguf", "--out-dtype", "q8_0", "--out", q8, "-q")
	limbic(t, "--model", f32, "convert", "--to", "hf", "--out", hf, "-q")

	toks := []int{1, 5, 77, 200, 13, 9}
	logits := func(path, dtype string) []float32 {
		o := model.LoadOptions{}
		if dtype == "q8_0" {
			o.DType = tensor.Q8_0
		}
		m, err := model.Load(context.Background(), path, o)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		c, err := model.Capture(m.Transformer, toks, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Logits
	}
	base, baseQ8 := logits(src, ""), logits(src, "q8_0")
	for _, tc := range []struct {
		path string
		want []float32
	}{{f32, base}, {hf, base}, {q8, baseQ8}} {
		got := logits(tc.path, "")
		for i := range got {
			if d := approx.Diff(got[i], tc.want[i]); !(d <= 1e-4) {
				t.Fatalf("%s: logit %d is %g, want %g", filepath.Base(tc.path), i, got[i], tc.want[i])
			}
		}
	}

	// A second write needs --overwrite; --out-dtype needs --to gguf.
	for _, args := range [][]string{
		{"--model", src, "convert", "--to", "gguf", "--out", f32},
		{"--model", src, "convert", "--to", "hf", "--out-dtype", "q8_0", "--out", filepath.Join(dir, "x")},
		{"--model", src, "convert", "--to", "gguf", "--out-dtype", "q4_k", "--out", filepath.Join(dir, "y.gguf")},
		{"--model", src, "tokenize", "hello"}, // the synthetic checkpoints have no tokenizer
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.HasPrefix(string(out), "limbic: ") || strings.Contains(string(out), "panic") {
			t.Errorf("limbic %v: %v, output %q; want a one-line error", args, err, out)
		}
	}
}
