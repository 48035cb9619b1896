package train

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// adamwRef is testdata/adamw.json: ten float64 AdamW steps of stories15M on
// the reference batch (see testdata/REFERENCE.md).
type adamwRef struct {
	Steps []struct {
		Loss     float64 `json:"loss"`
		GradNorm float64 `json:"grad_norm"`
	} `json:"steps"`
	LossAfter   float64            `json:"loss_after_final_step"`
	NormsInit   map[string]float64 `json:"param_norms_init"`
	NormsAfter  map[string]float64 `json:"param_norms_after"`
	UpdateNorms map[string]float64 `json:"update_norms"`
	NormAfter   []float64          `json:"model.norm.weight_after"`
	Decay       []string           `json:"decay"`
	NoDecay     []string           `json:"no_decay"`
}

// TestAdamWReference runs the reference's ten steps (full batch, lr 3e-4
// constant, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on the matrices,
// clipping at global norm 1) in f32 and checks every figure of adamw.json
// within the reference README's tolerances for an f32 implementation.
func TestAdamWReference(t *testing.T) {
	if testing.Short() {
		t.Skip("ten training steps of stories15M")
	}
	b, err := os.ReadFile("testdata/adamw.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref adamwRef
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := stories15M(t)(Options{})
	if err != nil {
		t.Fatal(err)
	}
	batch := refBatch(t)
	ps := m.Params()
	if len(ps) != len(ref.NormsInit) {
		t.Fatalf("%d params, reference has %d", len(ps), len(ref.NormsInit))
	}
	decay := map[string]bool{}
	for _, n := range ref.Decay {
		decay[n] = true
	}
	init := map[string][]float32{}
	for _, p := range ps {
		if p.Decay != decay[p.Name] {
			t.Errorf("%s: Decay %v, reference %v", p.Name, p.Decay, decay[p.Name])
		}
		init[p.Name] = append([]float32(nil), p.Data...)
		if d := relDiff(norm2(p.Data), ref.NormsInit[p.Name]); !(d <= 1e-6) {
			t.Errorf("%s: initial norm off by %.2g relative", p.Name, d)
		}
	}
	opt := NewAdamW(0.1)
	opt.Beta1, opt.Beta2, opt.Eps = 0.9, 0.95, 1e-8
	n := batch.Count()
	step := func() (float64, error) {
		ZeroGrad(ps)
		sum, k, err := m.Accumulate(batch, 1/float64(n), 0)
		if err != nil || k != n {
			t.Fatalf("accumulate: %d targets of %d, %v", k, n, err)
		}
		return sum / float64(k), nil
	}
	for s, want := range ref.Steps {
		loss, _ := step()
		gn := ClipGradNorm(ps, 1)
		t.Logf("step %2d: loss %.6f (ref %.6f), grad norm %.4f (ref %.4f)", s+1, loss, want.Loss, gn, want.GradNorm)
		if d := math.Abs(loss - want.Loss); !(d <= 1e-3) {
			t.Errorf("step %d: loss %.6f, reference %.6f (|Δ| %.2g > 1e-3)", s+1, loss, want.Loss, d)
		}
		if d := relDiff(gn, want.GradNorm); !(d <= 2e-2) {
			t.Errorf("step %d: grad norm %.5f, reference %.5f (rel %.2g > 2e-2)", s+1, gn, want.GradNorm, d)
		}
		if err := opt.Step(ps, 3e-4); err != nil {
			t.Fatal(err)
		}
	}
	ZeroGrad(ps)
	sum, k, err := m.Loss(batch)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(sum/float64(k) - ref.LossAfter); !(d <= 1e-3) {
		t.Errorf("loss after the tenth step %.6f, reference %.6f", sum/float64(k), ref.LossAfter)
	}
	worstP, worstU := 0.0, 0.0
	for _, p := range ps {
		dp := relDiff(norm2(p.Data), ref.NormsAfter[p.Name])
		up := make([]float32, len(p.Data))
		for i := range up {
			up[i] = p.Data[i] - init[p.Name][i]
		}
		du := relDiff(norm2(up), ref.UpdateNorms[p.Name])
		worstP, worstU = math.Max(worstP, dp), math.Max(worstU, du)
		if !(dp <= 1e-5) {
			t.Errorf("%s: norm after ten steps off by %.2g relative (> 1e-5)", p.Name, dp)
		}
		if !(du <= 3e-3) {
			t.Errorf("%s: update norm off by %.2g relative (> 3e-3)", p.Name, du)
		}
		if p.Name == "model.norm.weight" {
			for i, w := range ref.NormAfter {
				if d := math.Abs(float64(p.Data[i]) - w); !(d <= 1e-4) {
					t.Errorf("model.norm.weight[%d] after ten steps %.6f, reference %.6f", i, p.Data[i], w)
					break
				}
			}
		}
	}
	t.Logf("worst relative error: param norms %.2g, update norms %.2g", worstP, worstU)
}

// relDiff is |a−b|/|b|, +Inf for NaN or Inf.
func relDiff(a, b float64) float64 {
	d := math.Abs(a-b) / math.Abs(b)
	if math.IsNaN(d) {
		return math.Inf(1)
	}
	return d
}
