package model

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/peft"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// writeAdapter writes a PEFT adapter of rank r for the given weights
// (name → [out, in]) with seeded random A and B; it returns A and B.
func writeAdapter(t *testing.T, dir, base string, r int, alpha float64, shapes map[string][2]int) map[string][2][]float32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	var ts []*tensor.Tensor
	ab := map[string][2][]float32{}
	var targets []string
	for name, s := range shapes {
		a, b := make([]float32, r*s[1]), make([]float32, s[0]*r)
		for i := range a {
			a[i] = float32(rng.NormFloat64() * 0.1)
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64() * 0.1)
		}
		ab[name] = [2][]float32{a, b}
		ts = append(ts, tensor.FromF32(peft.TensorName(name, "lora_A"), []int{r, s[1]}, a),
			tensor.FromF32(peft.TensorName(name, "lora_B"), []int{s[0], r}, b))
		targets = append(targets, name)
	}
	os.MkdirAll(dir, 0o755)
	cj, _ := peft.NewConfig(base, r, alpha, 0, targets).Encode()
	if err := os.WriteFile(filepath.Join(dir, peft.ConfigFile), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, peft.WeightsFile), ts, nil); err != nil {
		t.Fatal(err)
	}
	return ab
}

// TestAdapterMergedAtLoad loads stories15M (llama2.c: interleaved q/k rows)
// with a LoRA adapter on q, k, v and down, as an adapter directory and as
// BASE+ADAPTER, and compares the logits with a Hugging Face directory whose
// weights were merged by hand (W + (alpha/r)·B·A in the HF layout).
func TestAdapterMergedAtLoad(t *testing.T) {
	exactKernels(t)
	tmp := t.TempDir()
	base := loadOrFail(t, Default, LoadOptions{})
	shapes := map[string][2]int{
		"model.layers.0.self_attn.q_proj.weight": {288, 288},
		"model.layers.0.self_attn.k_proj.weight": {288, 288},
		"model.layers.2.self_attn.v_proj.weight": {288, 288},
		"model.layers.5.mlp.down_proj.weight":    {288, 768},
	}
	const r, alpha = 4, 8.0
	adir := filepath.Join(tmp, "adapter")
	ab := writeAdapter(t, adir, Default, r, alpha, shapes)

	// Merge by hand into the HF export of the base.
	hand := filepath.Join(tmp, "hand")
	if err := base.ExportHF(hand, false); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(hand, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := f.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	var merged []*tensor.Tensor
	for _, x := range ts {
		v, _ := x.F32()
		w := append([]float32(nil), v...)
		if m, ok := ab[x.Name]; ok {
			out, in := shapes[x.Name][0], shapes[x.Name][1]
			for i := range out {
				for j := range in {
					var d float64
					for k := range r {
						d += float64(m[1][i*r+k]) * float64(m[0][k*in+j])
					}
					w[i*in+j] = float32(float64(w[i*in+j]) + alpha/r*d)
				}
			}
		}
		merged = append(merged, tensor.FromF32(x.Name, x.Shape, w))
	}
	f.Close()
	if err := safetensors.Write(filepath.Join(hand, "model.safetensors"), merged, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}

	toks := []int{1, 365, 2462, 263, 931, 29892, 727, 471, 263, 2217, 7826}
	logits := func(m *Model) []float32 {
		c, err := Capture(m.Transformer, toks, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Logits
	}
	want := logits(loadOrFail(t, hand, LoadOptions{}))
	baseLogits := logits(base)
	for _, ref := range []string{adir, Default + "+" + adir} {
		m := loadOrFail(t, ref, LoadOptions{})
		if m.Adapter != adir {
			t.Errorf("%s: Adapter = %q, want %q", ref, m.Adapter, adir)
		}
		got := logits(m)
		var worst, moved float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			moved = math.Max(moved, math.Abs(float64(got[i]-baseLogits[i])))
		}
		t.Logf("%s: max |Δlogit| vs hand-merged %.2e, vs base %.2e", ref, worst, moved)
		if !(worst <= 1e-4) {
			t.Errorf("%s: max |Δlogit| vs hand-merged = %g, want ≤ 1e-4", ref, worst)
		}
		if !(moved >= 1e-2) {
			t.Errorf("%s: the adapter moved the logits by only %g", ref, moved)
		}
		if h1, _ := m.WeightsHash(); h1 == "" {
			t.Errorf("%s: no weights hash", ref)
		} else if h0, _ := base.WeightsHash(); h0 == h1 {
			t.Errorf("%s: the merged model has the base's weights hash", ref)
		}
	}
}

func TestAdapterErrors(t *testing.T) {
	tmp := t.TempDir()
	shape := filepath.Join(tmp, "shape")
	writeAdapter(t, shape, Default, 2, 4, map[string][2]int{"model.layers.0.self_attn.q_proj.weight": {288, 100}})
	missing := filepath.Join(tmp, "missing")
	writeAdapter(t, missing, Default, 2, 4, map[string][2]int{"model.layers.9.self_attn.q_proj.weight": {288, 288}})
	nobase := filepath.Join(tmp, "nobase")
	writeAdapter(t, nobase, filepath.Join(tmp, "no-such-model"), 2, 4, map[string][2]int{"model.layers.0.self_attn.q_proj.weight": {288, 288}})
	for _, c := range []struct {
		ref  string
		want []string
	}{
		{shape, []string{"model.layers.0.self_attn.q_proj.weight", "[288 100]", "[288 288]"}},
		{missing, []string{"model.layers.9.self_attn.q_proj.weight", "does not have"}},
		{nobase, []string{"base model", "no-such-model"}},
		{Default + "+" + tmp, []string{"not a PEFT adapter directory"}},
	} {
		m, err := Load(context.Background(), c.ref, LoadOptions{})
		if err == nil {
			m.Close()
			t.Errorf("%s: no error", c.ref)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.ref, err, w)
			}
		}
	}
}
