package train_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/limbic-dev/limbic/engine/train"
	"github.com/limbic-dev/limbic/engine/train/internal/toy"
)

// rows is a Data of fixed rows, rowsPer per micro-batch, cycling.
type rows struct {
	in, tg  [][]int
	rowsPer int
	accum   int
}

func (r rows) Batch(step, micro int) (train.Batch, error) {
	var b train.Batch
	for j := range r.rowsPer {
		i := ((step*r.accum+micro)*r.rowsPer + j) % len(r.in)
		b.Inputs = append(b.Inputs, r.in[i])
		b.Targets = append(b.Targets, r.tg[i])
	}
	return b, nil
}

func (r rows) Epoch(steps int) float64 {
	return float64(steps*r.accum*r.rowsPer) / float64(len(r.in))
}

func toyRows(n, l, v int) ([][]int, [][]int) {
	var in, tg [][]int
	s := uint64(7)
	for range n {
		seq := make([]int, l+1)
		for j := range seq {
			s = s*6364136223846793005 + 1442695040888963407
			seq[j] = int(s>>33) % v
			if j > 0 && (s>>20)%3 != 0 {
				seq[j] = (seq[j-1] + 1) % v // a learnable bigram most of the time
			}
		}
		t := slices.Clone(seq[1:])
		t[0] = -1 // a position without loss
		in, tg = append(in, seq[:l]), append(tg, t)
	}
	return in, tg
}

// TestToyGradient checks the toy model's analytic gradient against central
// finite differences, since the loop's tests rely on it.
func TestToyGradient(t *testing.T) {
	m := toy.New(5, 1)
	in, tg := toyRows(3, 6, 5)
	b := train.Batch{Inputs: in, Targets: tg}
	if _, _, err := m.Accumulate(b, 1, 0); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range m.Params() {
		for i := range p.Data {
			x := p.Data[i]
			p.Data[i] = x + 1e-2
			lp, _, _ := m.Loss(b)
			p.Data[i] = x - 1e-2
			lm, _, _ := m.Loss(b)
			p.Data[i] = x
			fd := (lp - lm) / float64(float32(x+1e-2)-float32(x-1e-2))
			if d := math.Abs(fd - float64(p.Grad[i])); !(d <= 1e-3*math.Max(1, math.Abs(fd))) {
				t.Errorf("%s[%d]: grad %v, finite difference %v", p.Name, i, p.Grad[i], fd)
			}
			checked++
		}
	}
	if checked != 30 {
		t.Errorf("checked %d entries, want 30", checked)
	}
}

func toyConfig(steps int) train.Config {
	return train.Config{Steps: steps, GradAccum: 2, Schedule: train.Schedule{LR: 0.05, Min: 0.005, Warmup: 3, Total: steps},
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Clip: 1, ValEvery: 4, SaveEvery: 5, Seed: 42}
}

func TestRunLearns(t *testing.T) {
	in, tg := toyRows(16, 12, 7)
	d := rows{in: in, tg: tg, rowsPer: 2, accum: 2}
	m := toy.New(7, 3)
	m.Dropout = 0.1
	val := []train.Batch{{Inputs: in[:4], Targets: tg[:4]}}
	var js bytes.Buffer
	var saves []int
	var prog []train.Progress
	st, err := train.Run(context.Background(), toyConfig(40), m, d, train.RunOptions{
		Val:      val,
		JSON:     &js,
		Save:     func(_ context.Context, s *train.State) error { saves = append(saves, s.Step); return nil },
		Progress: func(p train.Progress) { prog = append(prog, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 40 || len(st.Log) != 40 || st.Opt.T != 40 {
		t.Fatalf("step %d, %d log entries, optimizer T %d; want 40 each", st.Step, len(st.Log), st.Opt.T)
	}
	first, last := st.Log[0].Loss, st.Log[39].Loss
	if !(last < first-0.3) {
		t.Errorf("loss %v → %v: did not fall by 0.3", first, last)
	}
	if want := []int{5, 10, 15, 20, 25, 30, 35, 40}; !slices.Equal(saves, want) {
		t.Errorf("saved at %v, want %v", saves, want)
	}
	var vsteps []int
	for _, v := range st.Val {
		vsteps = append(vsteps, v.Step)
	}
	if want := []int{4, 8, 12, 16, 20, 24, 28, 32, 36, 40}; !slices.Equal(vsteps, want) {
		t.Errorf("validated at %v, want %v", vsteps, want)
	}
	if !(st.Val[len(st.Val)-1].Loss < st.Val[0].Loss) {
		t.Errorf("validation loss %v → %v did not fall", st.Val[0].Loss, st.Val[len(st.Val)-1].Loss)
	}
	// The first warm-up step runs at LR/3; every logged LR is the schedule's.
	if got, want := st.Log[0].LR, 0.05/3; !(math.Abs(got-want) <= 1e-15) {
		t.Errorf("LR of step 1 = %v, want %v", got, want)
	}
	if len(prog) != 40 || prog[39].Step != 40 || prog[39].ETA != 0 || !(prog[0].TokensPerSec > 0) {
		t.Errorf("progress: %d calls, last %+v", len(prog), prog[len(prog)-1])
	}
	lines := bytes.Split(bytes.TrimSpace(js.Bytes()), []byte("\n"))
	if len(lines) != 50 {
		t.Errorf("%d JSON lines, want 40 steps + 10 validations", len(lines))
	}
	var l0 struct {
		Step int     `json:"step"`
		Loss float64 `json:"loss"`
	}
	if err := json.Unmarshal(lines[0], &l0); err != nil || l0.Step != 1 || l0.Loss != first {
		t.Errorf("first JSON line %s: %+v %v", lines[0], l0, err)
	}
}

// TestGradAccumEqualsBigBatch: two micro-batches of one row give the same
// update as one batch of both rows (scale 1/total over the step).
func TestGradAccumEqualsBigBatch(t *testing.T) {
	in, tg := toyRows(8, 10, 6)
	in[1], tg[1] = in[1][:4], tg[1][:4] // rows with different target counts
	cfg := toyConfig(6)
	cfg.ValEvery, cfg.SaveEvery = 0, 0
	a, b := toy.New(6, 9), toy.New(6, 9)
	cfg.GradAccum = 2
	sa, err := train.Run(context.Background(), cfg, a, rows{in: in, tg: tg, rowsPer: 1, accum: 2}, train.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.GradAccum = 1
	sb, err := train.Run(context.Background(), cfg, b, rows{in: in, tg: tg, rowsPer: 2, accum: 1}, train.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range sa.Log {
		if d := math.Abs(sa.Log[i].Loss - sb.Log[i].Loss); !(d <= 1e-12) {
			t.Errorf("step %d: loss %v accumulated, %v in one batch", i+1, sa.Log[i].Loss, sb.Log[i].Loss)
		}
	}
	for i := range a.W.Data {
		if d := math.Abs(float64(a.W.Data[i] - b.W.Data[i])); !(d <= 1e-6) {
			t.Fatalf("W[%d]: %v accumulated, %v in one batch", i, a.W.Data[i], b.W.Data[i])
		}
	}
}

// snapshot is a deep copy of a run's state and weights, as a checkpoint
// would keep them.
type snapshot struct {
	st     train.State
	opt    train.AdamW
	params [][]float32
}

func take(st *train.State, ps []*train.Param) snapshot {
	s := snapshot{st: *st, opt: *st.Opt}
	s.st.Log = slices.Clone(st.Log)
	s.st.Val = slices.Clone(st.Val)
	s.opt.M, s.opt.V = nil, nil
	for i := range st.Opt.M {
		s.opt.M = append(s.opt.M, slices.Clone(st.Opt.M[i]))
		s.opt.V = append(s.opt.V, slices.Clone(st.Opt.V[i]))
	}
	for _, p := range ps {
		s.params = append(s.params, slices.Clone(p.Data))
	}
	return s
}

// TestResumeBitForBit: a run resumed from the state saved at step 10 gives
// the same losses, validation losses and weights, bit for bit, as the
// uninterrupted run (with dropout on).
func TestResumeBitForBit(t *testing.T) {
	in, tg := toyRows(16, 12, 7)
	d := rows{in: in, tg: tg, rowsPer: 2, accum: 2}
	val := []train.Batch{{Inputs: in[:4], Targets: tg[:4]}}
	cfg := toyConfig(23)
	full := toy.New(7, 3)
	full.Dropout = 0.2
	var at10 snapshot
	ref, err := train.Run(context.Background(), cfg, full, d, train.RunOptions{Val: val, Save: func(_ context.Context, s *train.State) error {
		if s.Step == 10 {
			at10 = take(s, full.Params())
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if at10.st.Step != 10 {
		t.Fatal("no save at step 10")
	}
	resumed := toy.New(7, 99) // other initial weights: the snapshot replaces them
	resumed.Dropout = 0.2
	for i, p := range resumed.Params() {
		copy(p.Data, at10.params[i])
	}
	st := at10.st
	st.Opt = &at10.opt
	got, err := train.Run(context.Background(), cfg, resumed, d, train.RunOptions{Val: val, Resume: &st})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Log) != len(ref.Log) || len(got.Val) != len(ref.Val) {
		t.Fatalf("resumed: %d steps %d validations, want %d %d", len(got.Log), len(got.Val), len(ref.Log), len(ref.Val))
	}
	for i := range ref.Log {
		if got.Log[i] != ref.Log[i] {
			t.Errorf("step %d: resumed %+v, uninterrupted %+v", i+1, got.Log[i], ref.Log[i])
		}
	}
	for i := range ref.Val {
		if got.Val[i] != ref.Val[i] {
			t.Errorf("validation %d: resumed %+v, uninterrupted %+v", i, got.Val[i], ref.Val[i])
		}
	}
	for i := range full.W.Data {
		if math.Float32bits(full.W.Data[i]) != math.Float32bits(resumed.W.Data[i]) {
			t.Fatalf("W[%d]: resumed %v, uninterrupted %v", i, resumed.W.Data[i], full.W.Data[i])
		}
	}
	// Another seed changes the dropout, so the comparison above can fail.
	other := toy.New(7, 3)
	other.Dropout = 0.2
	cfg.Seed++
	o, err := train.Run(context.Background(), cfg, other, d, train.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Log[0].Loss == ref.Log[0].Loss {
		t.Errorf("another seed (other dropout) gives the same first loss %v", o.Log[0].Loss)
	}
	// A state with another seed is refused.
	st.Opt = &at10.opt
	if _, err := train.Run(context.Background(), cfg, resumed, d, train.RunOptions{Resume: &st}); err == nil {
		t.Error("resume with another seed: no error")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	in, tg := toyRows(4, 5, 4)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := train.Run(ctx, toyConfig(10), toy.New(4, 1), rows{in: in, tg: tg, rowsPer: 1, accum: 2}, train.RunOptions{
		Progress: func(p train.Progress) {
			if p.Step == 3 {
				cancel()
			}
		}})
	if err == nil || st == nil || st.Step != 3 {
		t.Errorf("cancelled at step 3: state %+v, err %v", st, err)
	}
}
