package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/testref"
)

// smallBatch is the first rows of the reference batch, cut to length.
func smallBatch(t testing.TB, rows, length int) Batch {
	b := refBatch(t)
	b.Inputs, b.Targets = b.Inputs[:rows], b.Targets[:rows]
	for i := range b.Inputs {
		b.Inputs[i], b.Targets[i] = b.Inputs[i][:length], b.Targets[i][:length]
	}
	return b
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestForwardMatchesEngine compares the training forward pass (logits and
// a residual read through a hook) with the engine's own forward pass.
func TestForwardMatchesEngine(t *testing.T) {
	m, err := stories15M(t)(Options{})
	if err != nil {
		t.Fatal(err)
	}
	toks := refBatch(t).Inputs[4][:96]
	eng, err := model.Capture(s15Eng.Transformer, toks, []string{"blocks.3.hook_resid_post"})
	if err != nil {
		t.Fatal(err)
	}
	var c hook.Capture
	hs := &hook.Set{}
	hs.Add(hook.Block(3, hook.ResidPost), c.Func())
	m.Hooks = []*hook.Set{hs}
	lg, err := m.Logits(toks)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Data), len(eng.Hooks[0].Data); got != want {
		t.Fatalf("hook captured %d values, engine %d", got, want)
	}
	if d := maxAbsDiff(c.Data, eng.Hooks[0].Data); !(d <= 1e-4) {
		t.Errorf("blocks.3.hook_resid_post: max |Δ| %.2e from the engine, want ≤ 1e-4", d)
	}
	if d := maxAbsDiff(lg, eng.Logits); !(d <= 2e-4) {
		t.Errorf("logits: max |Δ| %.2e from the engine, want ≤ 2e-4", d)
	}
}

// TestRecomputeBitIdentical: recomputing activations in the backward pass
// gives the same gradients bit for bit.
func TestRecomputeBitIdentical(t *testing.T) {
	mk := stories15M(t)
	b := smallBatch(t, 2, 64)
	var grads [2][][]float32
	var sums [2]float64
	for i, rc := range []bool{false, true} {
		m, err := mk(Options{Recompute: rc})
		if err != nil {
			t.Fatal(err)
		}
		if sums[i], _, err = m.Accumulate(b, 1.0/128, 0); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params() {
			grads[i] = append(grads[i], slices.Clone(p.Grad))
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("loss %v without recompute, %v with", sums[0], sums[1])
	}
	for j := range grads[0] {
		if !slices.Equal(grads[0][j], grads[1][j]) {
			t.Errorf("param %d: gradients differ with recompute", j)
		}
	}
	if norm2(grads[0][0]) == 0 {
		t.Errorf("embedding gradient is zero: nothing was compared")
	}
}

// TestAccumulateAdds: a second Accumulate adds the same gradient again.
func TestAccumulateAdds(t *testing.T) {
	m, err := stories15M(t)(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := smallBatch(t, 1, 32)
	m.Accumulate(b, 1, 0)
	once := slices.Clone(m.Params()[5].Grad)
	m.Accumulate(b, 1, 0)
	for i, g := range m.Params()[5].Grad {
		if g != 2*once[i] {
			t.Fatalf("after two calls grad[%d] = %v, want 2·%v", i, g, once[i])
		}
	}
}

func TestNewRejects(t *testing.T) {
	good := tinyConfigs()["llama-tied-gqa"]
	tensors := func(cfg arch.Config) []*tensor.Tensor {
		n, err := newNet[float32](cfg, true, false)
		if err != nil {
			t.Fatal(err)
		}
		var ts []*tensor.Tensor
		for _, p := range n.params {
			ts = append(ts, tensor.FromF32(p.name, p.shape, p.data))
		}
		return ts
	}
	gpt2 := good
	gpt2.Arch, gpt2.Norm, gpt2.Act, gpt2.Gated = "gpt2", arch.LayerNorm, arch.GELUTanh, false
	gemma := good
	gemma.Arch = "gemma2"
	ts := tensors(good)
	badShape := slices.Clone(ts)
	badShape[1] = tensor.FromF32(ts[1].Name, []int{3}, make([]float32, 3))
	for _, tc := range []struct {
		name string
		cfg  arch.Config
		ts   []*tensor.Tensor
		o    Options
		want string
	}{
		{"gpt2", gpt2, ts, Options{}, "gpt2 family is not supported"},
		{"gemma", gemma, ts, Options{}, "gemma2 family is not supported"},
		{"missing", good, ts[:len(ts)-1], Options{}, "missing tensors: model.norm.weight"},
		{"shape", good, badShape, Options{}, "has shape [3]"},
		{"extra", good, append(slices.Clone(ts), tensor.FromF32("lm_head.weight", []int{13, 8}, make([]float32, 104))), Options{}, "tied embeddings"},
		{"lora target", good, ts, Options{LoRA: &LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"qkv"}}}, `lora target "qkv"`},
		{"lora rank", good, ts, Options{LoRA: &LoRAConfig{Alpha: 4, Targets: []string{"q_proj"}}}, "lora rank 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.ts, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(good, ts, Options{}); err != nil {
		t.Errorf("New on good tensors: %v", err)
	}
}

func TestLoRA(t *testing.T) {
	mk := stories15M(t)
	base, err := mk(Options{})
	if err != nil {
		t.Fatal(err)
	}
	lc := &LoRAConfig{Rank: 4, Alpha: 8, Dropout: 0.1, Targets: []string{"q_proj", "v_proj", "down_proj"}, Seed: 3}
	lm, err := mk(Options{LoRA: lc})
	if err != nil {
		t.Fatal(err)
	}
	ps := lm.Params()
	if got, want := len(ps), 6*3*2; got != want {
		t.Fatalf("%d LoRA params, want %d", got, want)
	}
	if got, want := ps[0].Name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"; got != want {
		t.Errorf("first param %q, want %q", got, want)
	}
	if got, want := ps[1].Shape, []int{288, 4}; !slices.Equal(got, want) {
		t.Errorf("lora_B shape %v, want %v", got, want)
	}
	toks := refBatch(t).Inputs[0][:48]
	want, _ := base.Logits(toks)

	// B = 0 (PEFT's initialisation): the adapted model is the base model.
	got, _ := lm.Logits(toks)
	if d := maxAbsDiff(got, want); !(d <= 0) {
		t.Errorf("with B = 0 the logits differ from the base model's by %.2e", d)
	}

	// Train B away from zero; merged and unmerged logits agree.
	r := rand.New(rand.NewPCG(1, 1))
	for _, p := range ps {
		if strings.Contains(p.Name, "lora_B") {
			for i := range p.Data {
				p.Data[i] = float32(0.05 * r.NormFloat64())
			}
		}
	}
	unmerged, _ := lm.Logits(toks)
	if d := maxAbsDiff(unmerged, want); !(d >= 1e-2) {
		t.Fatalf("a non-zero B changes the logits by only %.2e", d)
	}
	cfg, ts := lm.HFTensors()
	mm, err := New(cfg, ts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	merged, _ := mm.Logits(toks)
	var scale float64
	for _, v := range unmerged {
		scale = max(scale, math.Abs(float64(v)))
	}
	if d := maxAbsDiff(merged, unmerged) / scale; !(d <= 1e-5) {
		t.Errorf("merged and unmerged logits differ by %.2e of the largest logit, want ≤ 1e-5", d)
	} else {
		t.Logf("merged vs unmerged logits: max |Δ| / max |logit| = %.2e", d)
	}
	if got := len(lm.AdapterTensors()); got != len(ps) {
		t.Errorf("%d adapter tensors, want %d", got, len(ps))
	}

	// Dropout is replayable from the seed, and the seed matters.
	b := smallBatch(t, 1, 32)
	grad := func(seed uint64) []float32 {
		for _, p := range ps {
			clear(p.Grad)
		}
		lm.Accumulate(b, 1, seed)
		return slices.Clone(ps[0].Grad)
	}
	g1, g2, g3 := grad(7), grad(7), grad(8)
	if !slices.Equal(g1, g2) {
		t.Errorf("the same seed gave different gradients")
	}
	if slices.Equal(g1, g3) {
		t.Errorf("different dropout seeds gave the same gradients")
	}
}

func TestLoRAFiniteDifferences(t *testing.T) {
	for _, drop := range []float64{0, 0.3} {
		t.Run(fmt.Sprint("dropout=", drop), func(t *testing.T) {
			cfg := tinyConfigs()["qwen2-untied-bias-sliding"]
			m := randomNet(t, cfg, 21)
			if err := m.addLoRA(&LoRAConfig{Rank: 2, Alpha: 3, Dropout: drop, Targets: moduleNames, Seed: 5}); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(2, 2))
			for _, p := range m.lora {
				if strings.Contains(p.name, "lora_B") {
					copy(p.data, randVec(r, len(p.data), -0.5, 0.5))
				}
			}
			b := tinyBatch()
			gradsOf(t, m, b, 9)
			for _, p := range m.params {
				if p.grad != nil {
					t.Fatalf("base tensor %s has a gradient under LoRA", p.name)
				}
			}
			for _, p := range m.lora {
				fdCheck(t, p.name, p.data, slices.Clone(p.grad), func() float64 { return lossOf(t, m, b, 9) })
			}
		})
	}
}

// TestSteeringGradient: with an additive hook in the forward pass, the
// gradient is that of the steered model (checked by a directional finite
// difference in f32), and differs from the unsteered one.
func TestSteeringGradient(t *testing.T) {
	m, err := stories15M(t)(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := smallBatch(t, 1, 64)
	r := rand.New(rand.NewPCG(4, 4))
	v := make([]float32, 288)
	for i := range v {
		v[i] = float32(0.5 * r.NormFloat64())
	}
	hs := &hook.Set{}
	hs.Add(hook.Block(2, hook.ResidPost), hook.AddVector(v, nil))
	p := m.Params()[len(m.Params())-1] // model.norm.weight
	gradWith := func(hooks []*hook.Set) []float32 {
		m.Hooks = hooks
		clear(p.Grad)
		if _, _, err := m.Accumulate(b, 1, 0); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(p.Grad)
	}
	plain, steered := gradWith(nil), gradWith([]*hook.Set{hs})
	if d := maxAbsDiff(plain, steered); !(d > 1e-3) {
		t.Fatalf("the steering hook changed the gradient by only %.2e", d)
	}
	// Directional derivative along u = steered gradient.
	const eps = 1e-2
	u := steered
	un := norm2(u)
	orig := slices.Clone(p.Data)
	lossAt := func(s float64) float64 {
		for i := range p.Data {
			p.Data[i] = orig[i] + float32(s*float64(u[i])/un)
		}
		l, _, err := m.Loss(b)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	fd := (lossAt(eps) - lossAt(-eps)) / (2 * eps)
	copy(p.Data, orig)
	if rel := math.Abs(fd-un) / un; !(rel <= 1e-2) {
		t.Errorf("directional derivative: backward %.6g, finite difference %.6g (rel %.2e)", un, fd, rel)
	}
}

// BenchmarkTrainStories15M times one forward and backward pass of the
// reference batch (8 rows of 256 tokens) and reports tokens/s.
func BenchmarkTrainStories15M(b *testing.B) {
	for _, rc := range []bool{false, true} {
		b.Run(fmt.Sprint("recompute=", rc), func(b *testing.B) {
			m, err := stories15M(b)(Options{Recompute: rc})
			if err != nil {
				b.Fatal(err)
			}
			batch := refBatch(b)
			m.Accumulate(batch, 1, 0) // warm-up: buffers, rope tables
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.Accumulate(batch, 1, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch.Count())/b.Elapsed().Seconds(), "tok/s")
			// On a shared machine CPU time is steadier than wall time.
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuSeconds returns the process's user and system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// TestLoRABF16Base: a bf16 checkpoint's frozen base stays bf16 under LoRA
// and gives the logits and adapter gradients of the same weights upcast
// to f32 (up to the bf16 kernels' rounding of activations).
func TestLoRABF16Base(t *testing.T) {
	testref.Stories15M(t)
	stories15M(t)
	cfg, ts, err := s15Eng.HFTensors()
	if err != nil {
		t.Fatal(err)
	}
	var bf, up []*tensor.Tensor
	for _, x := range ts {
		if len(x.Shape) == 2 {
			if x, err = arch.Convert(x, tensor.BF16); err != nil {
				t.Fatal(err)
			}
		}
		bf = append(bf, x)
		u, err := arch.Convert(x, tensor.F32)
		if err != nil {
			t.Fatal(err)
		}
		up = append(up, u)
	}
	lc := &LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"q_proj", "o_proj", "up_proj", "down_proj"}, Seed: 3}
	var ms [2]*Model
	for i, src := range [][]*tensor.Tensor{bf, up} {
		if ms[i], err = New(cfg, src, Options{LoRA: lc}); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 1))
		for _, p := range ms[i].Params() {
			if strings.Contains(p.Name, "lora_B") {
				for j := range p.Data {
					p.Data[j] = float32(0.05 * r.NormFloat64())
				}
			}
		}
	}
	if ms[0].net.layers[0].lin[0].w.raw == nil || ms[0].net.embed.raw == nil {
		t.Fatalf("the bf16 base was upcast")
	}
	if ms[1].net.layers[0].lin[0].w.raw != nil {
		t.Fatalf("the f32 base was kept as 16-bit")
	}
	toks := refBatch(t).Inputs[1][:64]
	l0, _ := ms[0].Logits(toks)
	l1, _ := ms[1].Logits(toks)
	var scale float64
	for _, v := range l1 {
		scale = max(scale, math.Abs(float64(v)))
	}
	d := maxAbsDiff(l0, l1) / scale
	t.Logf("bf16 base vs f32: max |Δlogit| / max |logit| = %.2e (kernel path %s)", d, kernels.Path())
	if !(d <= 2e-2) {
		t.Errorf("bf16 base logits differ from f32 by %.2e of the largest logit", d)
	}
	b := smallBatch(t, 2, 64)
	for _, m := range ms {
		if _, _, err := m.Accumulate(b, 1.0/128, 0); err != nil {
			t.Fatal(err)
		}
	}
	for j, p := range ms[0].Params() {
		q := ms[1].Params()[j]
		nr, _ := relErrs(p.Grad, toF64(q.Grad))
		if !(nr <= 5e-2) {
			t.Errorf("%s: gradient with a bf16 base differs from f32 by %.2e (norm-relative)", p.Name, nr)
		}
	}
	cfg2, merged := ms[0].HFTensors()
	if cfg2.Vocab != cfg.Vocab || len(merged) != len(ts) {
		t.Fatalf("HFTensors: %d tensors, want %d", len(merged), len(ts))
	}
}

// BenchmarkPrefillStories15M is the engine's own prefill of the same 8×256
// tokens (the last logit of each row), the yardstick of
// BenchmarkTrainStories15M.
func BenchmarkPrefillStories15M(b *testing.B) {
	stories15M(b)
	eng := s15Eng.Transformer
	batch := refBatch(b)
	run := func() {
		for _, row := range batch.Inputs {
			seq := &arch.Seq{Cache: eng.NewCache(), Tokens: row, Logits: arch.LastLogits}
			if err := eng.Forward([]*arch.Seq{seq}); err != nil {
				b.Fatal(err)
			}
		}
	}
	run()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.ReportMetric(float64(b.N*batch.Count())/b.Elapsed().Seconds(), "tok/s")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}
