package train_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/limbic-dev/limbic/engine/train"
)

func TestAdamWFirstStepByHand(t *testing.T) {
	// At t = 1, m̂ = g and v̂ = g², so the update is lr·g/(|g|+eps).
	w := &train.Param{Name: "w", Data: []float32{1, -2}, Grad: []float32{0.5, -0.25}, Decay: true}
	n := &train.Param{Name: "n", Data: []float32{1}, Grad: []float32{0.5}}
	o := &train.AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	if err := o.Step([]*train.Param{w, n}, 0.1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"decayed +", float64(w.Data[0]), 1*(1-0.1*0.1) - 0.1*0.5/(0.5+1e-8)},    // 0.89
		{"decayed -", float64(w.Data[1]), -2*(1-0.1*0.1) + 0.1*0.25/(0.25+1e-8)}, // -1.88
		{"not decayed", float64(n.Data[0]), 1 - 0.1*0.5/(0.5+1e-8)},              // 0.9
		{"m", float64(o.M[0][0]), 0.1 * 0.5},
		{"v", float64(o.V[0][1]), 0.05 * 0.0625},
	} {
		if d := math.Abs(c.got - c.want); !(d <= 1e-7*math.Max(1, math.Abs(c.want))) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if d := math.Abs(float64(w.Data[0]) - 0.89); !(d <= 1e-6) {
		t.Errorf("hand value: got %v, want 0.89", w.Data[0])
	}
}

// TestAdamWMatchesFloat64 runs five steps against the update written out
// directly in float64 (moments in float64 too).
func TestAdamWMatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 50
	p := &train.Param{Name: "p", Data: make([]float32, n), Grad: make([]float32, n), Decay: true}
	q := &train.Param{Name: "q", Data: make([]float32, n), Grad: make([]float32, n)}
	ref := [2][]float64{make([]float64, n), make([]float64, n)}
	m := [2][]float64{make([]float64, n), make([]float64, n)}
	v := [2][]float64{make([]float64, n), make([]float64, n)}
	for i := range n {
		p.Data[i], q.Data[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		ref[0][i], ref[1][i] = float64(p.Data[i]), float64(q.Data[i])
	}
	o := &train.AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	lr := 3e-2
	for step := 1; step <= 5; step++ {
		for k, pp := range []*train.Param{p, q} {
			for i := range n {
				g := float32(r.NormFloat64() * 0.1)
				pp.Grad[i] = g
				gd := float64(g)
				if pp.Decay {
					ref[k][i] -= lr * 0.1 * ref[k][i]
				}
				m[k][i] = 0.9*m[k][i] + 0.1*gd
				v[k][i] = 0.95*v[k][i] + 0.05*gd*gd
				mh := m[k][i] / (1 - math.Pow(0.9, float64(step)))
				vh := v[k][i] / (1 - math.Pow(0.95, float64(step)))
				ref[k][i] -= lr * mh / (math.Sqrt(vh) + 1e-8)
			}
		}
		if err := o.Step([]*train.Param{p, q}, lr); err != nil {
			t.Fatal(err)
		}
	}
	worst := 0.0
	for k, pp := range []*train.Param{p, q} {
		for i := range n {
			worst = math.Max(worst, math.Abs(float64(pp.Data[i])-ref[k][i]))
		}
	}
	if !(worst <= 1e-6) {
		t.Errorf("max |p − float64 reference| = %g, want ≤ 1e-6", worst)
	}
	if o.T != 5 {
		t.Errorf("T = %d, want 5", o.T)
	}
}

func TestAdamWErrors(t *testing.T) {
	p := &train.Param{Name: "p", Data: []float32{1}, Grad: []float32{1, 2}}
	if err := train.NewAdamW(0).Step([]*train.Param{p}, 1e-3); err == nil {
		t.Error("Grad longer than Data: no error")
	}
	p.Grad = p.Grad[:1]
	if err := train.NewAdamW(0).Step([]*train.Param{p}, math.NaN()); err == nil {
		t.Error("NaN learning rate: no error")
	}
	o := train.NewAdamW(0)
	o.M, o.V = [][]float32{{0, 0}}, [][]float32{{0, 0}}
	if err := o.Step([]*train.Param{p}, 1e-3); err == nil {
		t.Error("moments of the wrong size: no error")
	}
}

func TestClipGradNorm(t *testing.T) {
	for _, c := range []struct {
		max        float64
		wantScaled bool
	}{{1, true}, {10, false}, {0, false}} {
		a := &train.Param{Grad: []float32{3}}
		b := &train.Param{Grad: []float32{4}}
		n := train.ClipGradNorm([]*train.Param{a, b}, c.max)
		if !(math.Abs(n-5) <= 1e-12) {
			t.Errorf("max %v: norm %v, want 5", c.max, n)
		}
		want := [2]float64{3, 4}
		if c.wantScaled {
			coef := c.max / (5 + 1e-6)
			want = [2]float64{3 * coef, 4 * coef}
		}
		if d := math.Abs(float64(a.Grad[0])-want[0]) + math.Abs(float64(b.Grad[0])-want[1]); !(d <= 1e-6) {
			t.Errorf("max %v: grads %v %v, want %v", c.max, a.Grad[0], b.Grad[0], want)
		}
	}
}

func TestSchedule(t *testing.T) {
	s := train.Schedule{LR: 1, Min: 0.1, Warmup: 2, Total: 10}
	for _, c := range []struct {
		step int
		want float64
	}{
		{0, 0.5}, {1, 1}, {2, 1},
		{6, 0.1 + 0.9*0.5},                         // halfway through the decay: cos(π/2) = 0
		{9, 0.1 + 0.9*(1+math.Cos(math.Pi*7/8))/2}, // the last update
		{20, 0.1},
	} {
		if got := s.At(c.step); !(math.Abs(got-c.want) <= 1e-12) {
			t.Errorf("At(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	if got := (train.Schedule{LR: 2, Total: 5}).At(0); got != 2 {
		t.Errorf("no warm-up: At(0) = %v, want 2", got)
	}
	for _, bad := range []train.Schedule{{LR: 0}, {LR: 1, Min: 2}, {LR: 1, Warmup: -1}, {LR: math.NaN()}} {
		if bad.Check() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
