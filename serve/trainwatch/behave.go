package trainwatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Behaviour is a checkpoint's unsteered rate of a limbic eval scenario's
// target label, with its Wilson 95% interval.
type Behaviour struct {
	Scenario string     `json:"scenario"`
	Target   string     `json:"target"`
	Rate     *float64   `json:"rate"` // nil when no rollout was gradable
	CI       [2]float64 `json:"ci"`
	N        int        `json:"n"` // gradable rollouts
	Unclear  int        `json:"unclear"`
}

// behaviourOf runs sc's unsteered cell on a checkpoint's model; the
// rollouts go to dir/<scenario>.jsonl (resumable, keyed by modelID).
func behaviourOf(ctx context.Context, sc *behave.Scenario, l *Loaded, tok *tokenizer.Tokenizer, pack *vecpack.Pack, kind vecpack.Kind, modelID, dir string) (Behaviour, error) {
	one := *sc
	one.Sweep = behave.Sweep{Emotions: []string{pack.Meta.Emotions[0]}, Strengths: []float64{0}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Behaviour{}, err
	}
	m := &model.Model{Transformer: l.Model, Tok: tok, Name: modelID, Format: model.FormatHF}
	b := model.NewBatcher(l.Model, model.BatcherOptions{MaxSeqs: 8})
	defer b.Close()
	r, err := behave.Run(ctx, behave.Env{Model: m, Batcher: b, Pack: pack, Kind: kind, ModelID: modelID, Parallel: 16},
		&one, filepath.Join(dir, sc.Name+".jsonl"))
	if err != nil {
		return Behaviour{}, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if len(r.Cells) != 1 {
		return Behaviour{}, fmt.Errorf("scenario %s: %d cells, want the unsteered one", sc.Name, len(r.Cells))
	}
	c := r.Cells[0]
	return Behaviour{Scenario: sc.Name, Target: r.Target, Rate: c.Rate, CI: c.CI, N: c.N, Unclear: c.Unclear}, nil
}
