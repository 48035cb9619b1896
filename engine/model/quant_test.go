package model

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/internal/testref"
)

// quantTol is the README's suggested tolerance (max, mean |Δ|) against
// llama.cpp's own logits for each quantised file, for engines that quantise
// the activations too.
var quantTol = map[string][2]float64{
	"Q4_0": {0.35, 0.06}, "Q4_1": {0.30, 0.06}, "Q5_0": {0.35, 0.06}, "Q5_1": {0.35, 0.06},
	"Q8_0": {0.30, 0.05}, "Q2_K": {0.45, 0.07}, "Q3_K_M": {0.40, 0.07}, "Q4_K_M": {0.40, 0.07},
	"Q5_K_M": {0.35, 0.07}, "Q6_K": {0.40, 0.07}, "IQ4_NL": {0.25, 0.06}, "IQ4_XS": {0.40, 0.07},
}

// quantModels returns the quantised reference files to check: Q4_K_M from
// testdata always, all twelve from the shared llama.cpp reference where
// this machine has it (LIMBIC_QUANT_REF, default /work/shared/reference/quant).
func quantModels(t *testing.T) map[string]string {
	dirs := map[string]string{"Q4_K_M": testref.Path("quant")}
	d := os.Getenv("LIMBIC_QUANT_REF")
	if d == "" {
		d = "/work/shared/reference/quant"
	}
	if _, err := os.Stat(filepath.Join(d, "model-Q4_0.gguf")); err == nil {
		for name := range quantTol {
			dirs[name] = d
		}
	} else {
		t.Logf("shared quant reference not present (%v): checking Q4_K_M only", err)
	}
	return dirs
}

// TestQuantLogits loads llama.cpp's quantised files and compares the logits:
// the exact product with logits_f32dq (llama.cpp on the exactly dequantised
// weights in f32: max |Δ| ≤ 1e-3, argmax equal), the int8 product with
// llama.cpp's own logits within the README's tolerance.
func TestQuantLogits(t *testing.T) {
	exactKernels(t)
	for name, dir := range quantModels(t) {
		t.Run(name, func(t *testing.T) {
			m := loadOrFail(t, filepath.Join(dir, "model-"+name+".gguf"), LoadOptions{})
			defer m.Close()
			ref, err := safetensors.Open(filepath.Join(dir, "logits-"+name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			for _, exact := range []bool{true, false} {
				restore := kernels.SetQuantExact(exact)
				var maxD, sumD float64
				count := 0
				for _, i := range []string{"0", "1"} {
					toks := refInts(t, ref, "reference-"+i+".tokens")
					key := "reference-" + i + ".logits"
					if exact {
						key += "_f32dq"
					}
					want := refF32(t, ref, key)
					c, err := Capture(m.Transformer, toks, nil)
					if err != nil {
						t.Fatal(err)
					}
					if len(c.Logits) != len(want) {
						t.Fatalf("%d logits, want %d", len(c.Logits), len(want))
					}
					for j := range want {
						d := math.Abs(float64(c.Logits[j] - want[j]))
						if !(d <= maxD) {
							maxD = d
						}
						sumD += d
						count++
					}
					if exact {
						v := m.Vocab
						for p := 0; p < len(toks); p++ {
							if g, w := argmax(c.Logits[p*v:(p+1)*v]), argmax(want[p*v:(p+1)*v]); g != w {
								t.Errorf("reference-%s position %d: argmax %d, want %d", i, p, g, w)
							}
						}
					}
				}
				restore()
				mean := sumD / float64(count)
				if exact {
					t.Logf("exact: max |Δ| %.2e, mean %.2e vs logits_f32dq", maxD, mean)
					if !(maxD <= 1e-3) {
						t.Errorf("exact: max |Δlogit| %.3g vs logits_f32dq, want ≤ 1e-3", maxD)
					}
					continue
				}
				tol := quantTol[name]
				t.Logf("int8: max |Δ| %.3f, mean %.3f vs llama.cpp (tolerance %.2f / %.2f)", maxD, mean, tol[0], tol[1])
				if !(maxD <= tol[0]) || !(mean <= tol[1]) {
					t.Errorf("int8: max / mean |Δlogit| %.3f / %.3f vs llama.cpp, want ≤ %.2f / %.2f", maxD, mean, tol[0], tol[1])
				}
			}
		})
	}
}

// TestQuantStaysQuantised checks that a quantised file's weights stay in
// their blocks: the model's weight bytes are those of the file's tensors.
func TestQuantStaysQuantised(t *testing.T) {
	p := testref.Path("quant", "model-Q4_K_M.gguf")
	m := loadOrFail(t, p, LoadOptions{})
	defer m.Close()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	got := int64(m.WeightBytes())
	if !(float64(got) <= 1.1*float64(st.Size())) || got < st.Size()/2 {
		t.Errorf("weights take %d bytes for a file of %d, want about the file size", got, st.Size())
	}
}

func argmax(v []float32) int {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return b
}

func refF32(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.F32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func refInts(t *testing.T, f *safetensors.File, name string) []int {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.Ints()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBenchReportsWeightTypes checks bench's weight types and bytes per
// token against the file's own tensor table: every quantised tensor is read
// once per token but token_embd, of which one row is read.
func TestBenchReportsWeightTypes(t *testing.T) {
	p := testref.Path("quant", "model-Q4_K_M.gguf")
	f, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := map[string]int64{}
	var wantPerToken int64
	for _, ti := range f.TensorInfos() {
		if ti.Type == gguf.F32 { // norms: not weight matrices
			continue
		}
		wantTypes[strings.ToLower(ti.Type.String())] += ti.Size
		if ti.Name == "token_embd.weight" {
			wantPerToken += ti.Size / int64(ti.Shape[0])
		} else {
			wantPerToken += ti.Size
		}
	}
	f.Close()
	m := loadOrFail(t, p, LoadOptions{})
	defer m.Close()
	r, err := Bench(context.Background(), m.Transformer, BenchOptions{Prefill: []int{4}, Decode: []int{2}, Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.DType, "q4_k+q6_k"; got != want {
		t.Errorf("DType = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(r.WeightTypes, wantTypes) {
		t.Errorf("WeightTypes = %v, want %v", r.WeightTypes, wantTypes)
	}
	if r.BytesPerToken != wantPerToken {
		t.Errorf("BytesPerToken = %d, want %d", r.BytesPerToken, wantPerToken)
	}
	// The report names the kernels that ran: the path, and the product
	// quantised weights took.
	defer kernels.SetQuantExact(true)()
	r, err = Bench(context.Background(), m.Transformer, BenchOptions{Decode: []int{1}, Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kernels != kernels.Path() || !r.QuantExact {
		t.Errorf("Kernels %q, QuantExact %v; want %q, true", r.Kernels, r.QuantExact, kernels.Path())
	}
}

// compareGGUFTensors checks that got has want's tensors with the same types
// and shapes, and, when bytesToo, the same bytes.
func compareGGUFTensors(t *testing.T, got, want string, bytesToo bool) {
	t.Helper()
	g, err := gguf.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	w, err := gguf.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if len(g.TensorInfos()) != len(w.TensorInfos()) {
		t.Errorf("%d tensors, want %d", len(g.TensorInfos()), len(w.TensorInfos()))
	}
	for _, wi := range w.TensorInfos() {
		gt, err := g.Tensor(wi.Name)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		wt, _ := w.Tensor(wi.Name)
		if gt.DType != wt.DType || !reflect.DeepEqual(gt.Shape, wt.Shape) {
			t.Errorf("%s: %v %v, want %v %v", wi.Name, gt.DType, gt.Shape, wt.DType, wt.Shape)
			continue
		}
		if bytesToo && string(gt.Data) != string(wt.Data) {
			t.Errorf("%s (%v): the bytes differ from llama-quantize's", wi.Name, wt.DType)
		}
	}
}

// TestExportGGUFMixTypes re-quantises the Q4_K_M test model with the q4_k_m
// mix: every tensor must get the type llama-quantize gave it.
func TestExportGGUFMixTypes(t *testing.T) {
	p := testref.Path("quant", "model-Q4_K_M.gguf")
	m := loadOrFail(t, p, LoadOptions{})
	defer m.Close()
	out := filepath.Join(t.TempDir(), "m.gguf")
	if err := m.ExportGGUFMix(out, "q4_k_m"); err != nil {
		t.Fatal(err)
	}
	compareGGUFTensors(t, out, p, false)
	if err := m.ExportGGUFMix(out, "q3_k_s"); err == nil {
		t.Error("ExportGGUFMix accepted an unknown mix")
	}
}

// TestExportGGUFMixLikeLlamaQuantize converts the shared f32 model with the
// q4_0 and q4_k_m mixes and compares every tensor, type and bytes, with
// llama-quantize's files (skipped where the shared reference is absent).
func TestExportGGUFMixLikeLlamaQuantize(t *testing.T) {
	dir := os.Getenv("LIMBIC_QUANT_REF")
	if dir == "" {
		dir = "/work/shared/reference/quant"
	}
	src := filepath.Join(dir, "model-f32.gguf")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("shared quant reference not present: %v", err)
	}
	m := loadOrFail(t, src, LoadOptions{})
	defer m.Close()
	for mix, file := range map[string]string{"q4_0": "model-Q4_0.gguf", "q4_k_m": "model-Q4_K_M.gguf"} {
		t.Run(mix, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "m.gguf")
			if err := m.ExportGGUFMix(out, mix); err != nil {
				t.Fatal(err)
			}
			compareGGUFTensors(t, out, filepath.Join(dir, file), true)
		})
	}
}
