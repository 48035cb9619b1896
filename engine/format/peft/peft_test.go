package peft

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
)

const q = "model.layers.0.self_attn.q_proj.weight"

func pair(r, out, in int) []*tensor.Tensor {
	return []*tensor.Tensor{
		tensor.FromF32(TensorName(q, "lora_A"), []int{r, in}, make([]float32, r*in)),
		tensor.FromF32(TensorName(q, "lora_B"), []int{out, r}, make([]float32, out*r)),
	}
}

func TestFromTensorsErrors(t *testing.T) {
	c := NewConfig("base", 2, 4, 0, []string{"q_proj"})
	for _, tc := range []struct {
		name string
		ts   []*tensor.Tensor
		want string
	}{
		{"only A", pair(2, 4, 3)[:1], "lora_A or lora_B missing"},
		{"rank", pair(3, 4, 3), "rank r = 2"},
		{"not peft", []*tensor.Tensor{tensor.FromF32("model.x.weight", []int{2, 2}, make([]float32, 4))}, "not a PEFT LoRA name"},
		{"not lora", []*tensor.Tensor{tensor.FromF32(prefix+"model.x.weight", []int{2, 2}, make([]float32, 4))}, "not a lora_A or lora_B"},
		{"vector", []*tensor.Tensor{tensor.FromF32(TensorName(q, "lora_A"), []int{4}, make([]float32, 4))}, "want a matrix"},
		{"none", nil, "no LoRA tensors"},
	} {
		if _, err := FromTensors(c, tc.ts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestConfigScaleAndCheck(t *testing.T) {
	c := NewConfig("base", 4, 8, 0.1, []string{"q_proj"})
	if got := c.Scale(); got != 2 {
		t.Errorf("scale %v, want alpha/r = 2", got)
	}
	c.UseRSLoRA = true
	if got := c.Scale(); !(math.Abs(got-4) <= 1e-12) {
		t.Errorf("rslora scale %v, want alpha/√r = 4", got)
	}
	for _, bad := range []Config{{PeftType: "IA3", R: 1}, {PeftType: "LORA"}, {PeftType: "LORA", R: 2, Bias: "all"}, {PeftType: "LORA", R: 2, FanInFanOut: true}} {
		if bad.Check() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestOpenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := NewConfig("base", 1, 3, 0, []string{"q_proj"})
	cj, _ := c.Encode()
	os.WriteFile(filepath.Join(dir, ConfigFile), cj, 0o644)
	ts := []*tensor.Tensor{
		tensor.FromF32(TensorName(q, "lora_A"), []int{1, 2}, []float32{1, 2}),
		tensor.FromF32(TensorName(q, "lora_B"), []int{2, 1}, []float32{3, -1}),
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), ts, nil); err != nil {
		t.Fatal(err)
	}
	if !IsAdapter(dir) {
		t.Fatal("IsAdapter: false")
	}
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := tensor.FromF32(q, []int{2, 2}, []float32{1, 1, 1, 1})
	m, err := a.Merge(w)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.F32()
	// 3·[[3] [-1]]·[[1 2]] = [[9 18] [-3 -6]]
	want := []float32{10, 19, -2, -5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("merged %v, want %v", got, want)
		}
	}
}
