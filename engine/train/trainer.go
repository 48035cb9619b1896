package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Data gives the training loop its batches. A batch must depend only on
// (step, micro) — never on what was asked before — so that a resumed run
// sees the same data as an uninterrupted one.
type Data interface {
	// Batch returns micro-batch micro (0 ≤ micro < GradAccum) of step
	// (0-based).
	Batch(step, micro int) (Batch, error)
	// Epoch returns how many passes over the data the first steps steps
	// make (fractional).
	Epoch(steps int) float64
}

// Config is what the training loop does. Everything random in a step is
// derived from (Seed, step, micro), so it can be replayed.
type Config struct {
	Steps     int // optimizer steps in all
	GradAccum int // micro-batches per step (0 means 1)
	Schedule  Schedule
	// AdamW settings (Beta1 0 means torch's defaults 0.9, 0.999, 1e-8).
	Beta1, Beta2, Eps float64
	WeightDecay       float64
	Clip              float64 // max global gradient norm (0: no clipping)
	ValEvery          int     // validation loss every N steps (0: only at the end)
	SaveEvery         int     // Save every N steps (0: only at the end)
	Seed              uint64
}

// Check reports whether c is usable.
func (c Config) Check() error {
	switch {
	case c.Steps <= 0:
		return fmt.Errorf("train: %d steps, want at least 1", c.Steps)
	case c.GradAccum < 0:
		return fmt.Errorf("train: gradient accumulation %d, want ≥ 1", c.GradAccum)
	case !(c.Clip >= 0) || math.IsInf(c.Clip, 0):
		return fmt.Errorf("train: clip %v must be finite and ≥ 0", c.Clip)
	case c.ValEvery < 0 || c.SaveEvery < 0:
		return fmt.Errorf("train: --val-every %d and --save-every %d must be ≥ 0", c.ValEvery, c.SaveEvery)
	}
	if err := c.Schedule.Check(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return c.optimizer().Check()
}

func (c Config) accum() int { return max(c.GradAccum, 1) }

func (c Config) optimizer() *AdamW {
	o := NewAdamW(c.WeightDecay)
	if c.Beta1 != 0 || c.Beta2 != 0 || c.Eps != 0 {
		o.Beta1, o.Beta2, o.Eps = c.Beta1, c.Beta2, c.Eps
	}
	return o
}

// StepLog is what one optimizer step did.
type StepLog struct {
	Step     int     `json:"step"` // 1-based: the number of updates made
	Epoch    float64 `json:"epoch"`
	Loss     float64 `json:"loss"`      // mean cross-entropy over the step's targets, before the update
	GradNorm float64 `json:"grad_norm"` // global norm before clipping
	LR       float64 `json:"learning_rate"`
	Tokens   int     `json:"tokens"` // targets in the step
}

// ValLog is a validation loss.
type ValLog struct {
	Step   int     `json:"step"`
	Loss   float64 `json:"loss"` // mean cross-entropy over the validation targets
	Tokens int     `json:"tokens"`
}

// State is where a run stands: enough, with the weights, to continue it
// exactly. Opt is stored by the checkpoint beside the JSON.
type State struct {
	Step  int       `json:"global_step"`
	Epoch float64   `json:"epoch"`
	Seed  uint64    `json:"seed"`
	Log   []StepLog `json:"log_history"`
	Val   []ValLog  `json:"val_history"`
	Opt   *AdamW    `json:"-"`
}

// Progress is reported after every step.
type Progress struct {
	Step, Steps  int
	Loss         float64 // this step's training loss
	LR           float64
	TokensPerSec float64       // targets trained per second in this session
	Elapsed, ETA time.Duration // of this session; ETA at its rate
}

// RunOptions are Run's optional inputs and outputs.
type RunOptions struct {
	// Val are the validation batches (none: no validation loss).
	Val []Batch
	// Resume continues from a saved state (its Opt included); the model's
	// weights must be the ones saved with it.
	Resume *State
	// Save is called every Config.SaveEvery steps and after the last one.
	Save func(ctx context.Context, st *State) error
	// Progress is called after every step.
	Progress func(Progress)
	// JSON gets a line per step (StepLog plus tokens_per_s) and per
	// validation ({"step", "val_loss", "tokens"}).
	JSON io.Writer
}

// StepSeed is the seed of micro-batch micro of step (0-based) in a run
// seeded with seed: what Accumulate gets for dropout.
func StepSeed(seed uint64, step, micro int) uint64 {
	return mix(mix(seed^0x6c696d626963, uint64(step)), uint64(micro))
}

// mix is one round of splitmix64 over a ⊕ b.
func mix(a, b uint64) uint64 {
	z := a + 0x9E3779B97F4A7C15*(b+1)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Run trains m on d for cfg.Steps optimizer steps (from o.Resume's step when
// resuming). Each step accumulates cfg.GradAccum micro-batches with scale
// 1/(targets in all of them) — the gradient of the step's mean loss —, clips
// the global norm to cfg.Clip, and applies AdamW at the schedule's learning
// rate. It returns the final state; on an error or a cancelled ctx, the state
// up to the last finished step with the error.
func Run(ctx context.Context, cfg Config, m Trainable, d Data, o RunOptions) (*State, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	ps := m.Params()
	st := &State{Seed: cfg.Seed, Opt: cfg.optimizer()}
	if r := o.Resume; r != nil {
		if r.Seed != cfg.Seed {
			return nil, fmt.Errorf("train: resume: the checkpoint was trained with seed %d, not %d", r.Seed, cfg.Seed)
		}
		if r.Opt == nil || r.Opt.T != r.Step {
			return nil, fmt.Errorf("train: resume: optimizer state missing or at a different step than %d", r.Step)
		}
		if r.Step > cfg.Steps {
			return nil, fmt.Errorf("train: resume: the checkpoint is at step %d, past the %d steps asked for", r.Step, cfg.Steps)
		}
		opt := *r.Opt
		opt.Beta1, opt.Beta2, opt.Eps, opt.WeightDecay = st.Opt.Beta1, st.Opt.Beta2, st.Opt.Eps, st.Opt.WeightDecay
		st.Opt = &opt
		if err := st.Opt.init(ps); err != nil {
			return nil, fmt.Errorf("train: resume: %w", err)
		}
		st.Step, st.Epoch = r.Step, r.Epoch
		st.Log = append([]StepLog(nil), r.Log...)
		st.Val = append([]ValLog(nil), r.Val...)
	}
	start, first := time.Now(), st.Step
	tokens := 0
	batches := make([]Batch, cfg.accum())
	for st.Step < cfg.Steps {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		s := st.Step
		total := 0
		for k := range batches {
			b, err := d.Batch(s, k)
			if err != nil {
				return st, fmt.Errorf("train: step %d: %w", s+1, err)
			}
			batches[k] = b
			total += b.Count()
		}
		if total == 0 {
			return st, fmt.Errorf("train: step %d: no targets in its batches", s+1)
		}
		ZeroGrad(ps)
		var sum float64
		for k, b := range batches {
			ls, _, err := m.Accumulate(b, 1/float64(total), StepSeed(cfg.Seed, s, k))
			if err != nil {
				return st, fmt.Errorf("train: step %d: %w", s+1, err)
			}
			sum += ls
		}
		loss := sum / float64(total)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return st, fmt.Errorf("train: step %d: loss is %v", s+1, loss)
		}
		norm := ClipGradNorm(ps, cfg.Clip)
		if math.IsNaN(norm) || math.IsInf(norm, 0) {
			return st, fmt.Errorf("train: step %d: gradient norm is %v", s+1, norm)
		}
		lr := cfg.Schedule.At(s)
		if err := st.Opt.Step(ps, lr); err != nil {
			return st, fmt.Errorf("train: step %d: %w", s+1, err)
		}
		st.Step++
		st.Epoch = d.Epoch(st.Step)
		rec := StepLog{Step: st.Step, Epoch: st.Epoch, Loss: loss, GradNorm: norm, LR: lr, Tokens: total}
		st.Log = append(st.Log, rec)
		tokens += total
		el := time.Since(start)
		tps := float64(tokens) / max(el.Seconds(), 1e-9)
		if o.JSON != nil {
			line := struct {
				StepLog
				TokensPerSec float64 `json:"tokens_per_s"`
			}{rec, math.Round(tps*10) / 10}
			if err := writeJSONLine(o.JSON, line); err != nil {
				return st, err
			}
		}
		if o.Progress != nil {
			done := st.Step - first
			eta := time.Duration(float64(el) / float64(done) * float64(cfg.Steps-st.Step))
			o.Progress(Progress{Step: st.Step, Steps: cfg.Steps, Loss: loss, LR: lr, TokensPerSec: tps, Elapsed: el, ETA: eta})
		}
		last := st.Step == cfg.Steps
		if len(o.Val) > 0 && (last || cfg.ValEvery > 0 && st.Step%cfg.ValEvery == 0) {
			v, err := validate(ctx, m, o.Val, st.Step)
			if err != nil {
				return st, err
			}
			st.Val = append(st.Val, v)
			if o.JSON != nil {
				if err := writeJSONLine(o.JSON, map[string]any{"step": v.Step, "val_loss": v.Loss, "tokens": v.Tokens}); err != nil {
					return st, err
				}
			}
		}
		if o.Save != nil && (last || cfg.SaveEvery > 0 && st.Step%cfg.SaveEvery == 0) {
			if err := o.Save(ctx, st); err != nil {
				return st, fmt.Errorf("train: save at step %d: %w", st.Step, err)
			}
		}
	}
	return st, nil
}

// Validate returns the mean cross-entropy of m over val.
func Validate(ctx context.Context, m Trainable, val []Batch) (loss float64, n int, err error) {
	var sum float64
	for i, b := range val {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		s, k, err := m.Loss(b)
		if err != nil {
			return 0, 0, fmt.Errorf("train: validation batch %d: %w", i, err)
		}
		sum += s
		n += k
	}
	if n == 0 {
		return 0, 0, errors.New("train: the validation batches have no targets")
	}
	return sum / float64(n), n, nil
}

func validate(ctx context.Context, m Trainable, val []Batch, step int) (ValLog, error) {
	l, n, err := Validate(ctx, m, val)
	if err != nil {
		return ValLog{}, err
	}
	return ValLog{Step: step, Loss: l, Tokens: n}, nil
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
