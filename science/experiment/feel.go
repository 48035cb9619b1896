package experiment

import (
	"context"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/science/steer"
)

// FeelOptions configure Feel.
type FeelOptions struct {
	Emotions []string // steered emotions and scored words (default: the pack's)
	Strength float64  // fraction of the mean residual norm (default 0.5, the paper's)
	Layers   string   // steered layers, "L" or "A-B" (default: the pack's best layer)
	// Progress is called after each emotion.
	Progress func(done, total int)
}

// FeelPrompt is one prompt of the experiment.
type FeelPrompt struct {
	Name string `json:"name"`
	Text string `json:"text"` // the text the emotion word continues
}

// FeelResult is the experiment's outcome. Plus[e][w] (Minus[e][w]) is the
// change in log-probability of word w as the continuation when emotion e is
// added (subtracted), averaged over the prompts.
type FeelResult struct {
	// Steering is the extra steering every forward pass ran under (Env.Steering);
	// empty for the unsteered baseline.
	Steering []string     `json:"steering,omitempty"`
	Prompts  []FeelPrompt `json:"prompts"`
	Emotions []string     `json:"emotions"`
	Strength float64      `json:"strength"`
	Layers   []int        `json:"layers"`
	Plus     [][]float64  `json:"matrix"`
	Minus    [][]float64  `json:"matrix_minus"`
	// OwnPlus[e][p] (OwnMinus[e][p]) is the change in log-probability of
	// emotion e's own word after prompt p when e is added (subtracted): the
	// per-prompt values behind the diagonals of Plus and Minus, for the
	// report's intervals.
	OwnPlus   [][]float64 `json:"own_plus_by_prompt,omitempty"`
	OwnMinus  [][]float64 `json:"own_minus_by_prompt,omitempty"`
	RaiseRate float64     `json:"raise_rate"` // share of emotions whose own word rises when added
	LowerRate float64     `json:"lower_rate"` // share whose own word falls when subtracted
	// DiagonalRank is, per emotion, the rank of its own word among all words'
	// changes when it is added (0 = its word rose most).
	DiagonalRank []int    `json:"diagonal_rank"`
	Raised       []string `json:"raised"`     // emotions whose word rose when added
	NotRaised    []string `json:"not_raised"` // and those whose did not
	NotLowered   []string `json:"not_lowered"`
}

// feelPrompts returns the prompts: the paper's for chat models, third-person
// story openings for base models.
func (e *Env) feelPrompts() ([]FeelPrompt, [][]int, []string, error) {
	type p struct{ name, user, prefix, raw string }
	ps := []p{
		{"he felt", "How does he feel?", "He feels", "He felt"},
		{"she felt", "How does she feel?", "She feels", "She felt"},
	}
	var out []FeelPrompt
	var ids [][]int
	var texts []string
	for _, x := range ps {
		id, err := e.encodeUser(x.user, x.prefix, x.raw)
		if err != nil {
			return nil, nil, nil, err
		}
		text := x.raw
		if e.chatModel() {
			text = x.prefix
		}
		out = append(out, FeelPrompt{Name: x.name, Text: text})
		ids = append(ids, id)
		texts = append(texts, text)
	}
	return out, ids, texts, nil
}

// Feel runs the "He felt / She felt" experiment.
func Feel(ctx context.Context, e *Env, o FeelOptions) (*FeelResult, error) {
	if o.Strength == 0 {
		o.Strength = 0.5
	}
	emos := o.Emotions
	if len(emos) == 0 {
		emos = e.Pack.Meta.Emotions
	}
	m := e.Model
	prompts, ids, texts, err := e.feelPrompts()
	if err != nil {
		return nil, err
	}
	// The continuation tokens of every emotion word after every prompt.
	conts := make([][][]int, len(prompts))
	for i := range prompts {
		for _, w := range emos {
			c, err := e.continuation(texts[i], w)
			if err != nil {
				return nil, err
			}
			conts[i] = append(conts[i], c)
		}
	}
	opts := steer.Options{Kind: e.Kind, NLayers: m.Layers, Dim: m.Dim}
	// score returns each word's log-probability averaged over the prompts
	// and per prompt ([prompt][word]).
	score := func(spec *steer.Spec) ([]float64, [][]float64, error) {
		avg := make([]float64, len(emos))
		per := make([][]float64, len(prompts))
		for i := range prompts {
			o := opts
			o.PromptLen = len(ids[i])
			var specs []steer.Spec
			if spec != nil {
				specs = []steer.Spec{*spec}
			}
			hs, err := e.steerHooks(len(ids[i]))
			if err != nil {
				return nil, nil, err
			}
			if hs == nil {
				hs = &hook.Set{} // Steer builds a fresh set per call, so adding to it is safe
			}
			if hs, _, err = steer.Hooks(hs, specs, e.Pack, o); err != nil {
				return nil, nil, err
			}
			lp, err := logProbs(m.Transformer, ids[i], conts[i], hs)
			if err != nil {
				return nil, nil, err
			}
			for w := range lp {
				avg[w] += lp[w] / float64(len(prompts))
			}
			per[i] = lp
		}
		return avg, per, nil
	}
	base, basePer, err := score(nil)
	if err != nil {
		return nil, err
	}
	res := &FeelResult{Steering: e.Steering, Prompts: prompts, Emotions: emos, Strength: o.Strength}
	for k, em := range emos {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// row returns every word's change (mean over the prompts) and the
		// own word's change per prompt.
		row := func(sign float64) ([]float64, []float64, error) {
			sp := steer.Spec{Emotion: em, Strength: sign * o.Strength, Layers: o.Layers, Span: steer.Span{Kind: steer.Prompt}}
			lp, per, err := score(&sp)
			if err != nil {
				return nil, nil, err
			}
			for w := range lp {
				lp[w] -= base[w]
			}
			own := make([]float64, len(per))
			for i := range per {
				own[i] = per[i][k] - basePer[i][k]
			}
			return lp, own, nil
		}
		plus, ownPlus, err := row(+1)
		if err != nil {
			return nil, err
		}
		minus, ownMinus, err := row(-1)
		if err != nil {
			return nil, err
		}
		res.Plus, res.Minus = append(res.Plus, plus), append(res.Minus, minus)
		res.OwnPlus, res.OwnMinus = append(res.OwnPlus, ownPlus), append(res.OwnMinus, ownMinus)
		rank := 0
		for w := range plus {
			if plus[w] > plus[k] {
				rank++
			}
		}
		res.DiagonalRank = append(res.DiagonalRank, rank)
		if plus[k] > 0 {
			res.Raised = append(res.Raised, em)
		} else {
			res.NotRaised = append(res.NotRaised, em)
		}
		if minus[k] >= 0 {
			res.NotLowered = append(res.NotLowered, em)
		}
		if o.Progress != nil {
			o.Progress(k+1, len(emos))
		}
	}
	n := float64(len(emos))
	res.RaiseRate = float64(len(res.Raised)) / n
	res.LowerRate = (n - float64(len(res.NotLowered))) / n
	def := e.Pack.Meta.BestLayer
	if def < 0 {
		def = e.Pack.Meta.Layers[len(e.Pack.Meta.Layers)*2/3]
	}
	res.Layers, err = steer.Layers(o.Layers, m.Layers, def)
	if err != nil {
		return nil, fmt.Errorf("experiment feel: %w", err)
	}
	return res, nil
}

// Summary is a one-line description of the result.
func (r *FeelResult) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "feel: %d emotions at ±%g on layers %v: own word rises for %.0f%%, falls for %.0f%%",
		len(r.Emotions), r.Strength, r.Layers, 100*r.RaiseRate, 100*r.LowerRate)
	return b.String()
}
