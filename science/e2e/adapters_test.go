//go:build e2e

package e2e

import (
	"context"
	"fmt"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/stories"
)

// engineGen adapts the engine to stories.Generator for base models (raw
// prompts only): a sketch of the glue, not the product's.
type engineGen struct{ m *model.Model }

func (g engineGen) Name() string { return "limbic:" + g.m.Name }

func (g engineGen) Generate(ctx context.Context, reqs []stories.Request) ([]string, error) {
	mreqs := make([]model.Request, len(reqs))
	prompts := make([][]int, len(reqs))
	for i, r := range reqs {
		if r.Chat() {
			return nil, fmt.Errorf("chat requests need a chat template")
		}
		prompts[i] = g.m.Tok.Encode(r.Prompt, true)
		mreqs[i] = model.Request{Prompt: prompts[i], Max: r.MaxTokens, Stop: g.m.StopIDs(),
			Sampling: model.Sampling{Temp: r.Temperature, TopP: r.TopP, Seed: r.Seed}}
	}
	res, err := model.Generate(ctx, g.m.Model, mreqs, nil)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(reqs))
	for i, r := range res {
		d := g.m.Tok.NewDecoder()
		d.Skip(prompts[i])
		s := ""
		for _, id := range r.IDs {
			s += d.Next(id)
		}
		out[i] = s + d.Flush()
	}
	return out, nil
}

// engineRunner adapts the engine to extract.Runner.
type engineRunner struct {
	m       *model.Model
	maxText int // read at most this many text tokens (0 = all)
}

func (r engineRunner) DModel() int    { return r.m.Dim }
func (r engineRunner) NumLayers() int { return r.m.Layers }

func (r engineRunner) Residuals(ctx context.Context, texts []extract.Text, layers []int, visit func(i, layer int, rows []float32, textStart int) error) error {
	seqs := make([]*arch.Seq, len(texts))
	caps := make([][]*hook.Capture, len(texts))
	starts := make([]int, len(texts))
	for i, t := range texts {
		ids := r.m.Tok.Encode(t.Prefix+t.Text, true)
		starts[i] = len(r.m.Tok.Encode(t.Prefix, true))
		if t.Prefix == "" {
			starts[i] = 1 // after BOS
		}
		if r.maxText > 0 && len(ids) > starts[i]+r.maxText {
			ids = ids[:starts[i]+r.maxText]
		}
		if len(ids) > r.m.MaxSeq {
			ids = ids[:r.m.MaxSeq]
		}
		var hs hook.Set
		for _, l := range layers {
			c := &hook.Capture{Point: hook.Block(l, hook.ResidPost)}
			hs.Add(c.Point, c.Func())
			caps[i] = append(caps[i], c)
		}
		seqs[i] = &arch.Seq{Cache: r.m.NewCache(), Tokens: ids, Hooks: &hs, Logits: arch.NoLogits}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.m.Forward(seqs); err != nil {
		return err
	}
	for i := range texts {
		for li, l := range layers {
			if err := visit(i, l, caps[i][li].Data, min(starts[i], caps[i][li].Rows())); err != nil {
				return err
			}
		}
	}
	return nil
}

// engineLens adapts the engine to validate.Unembedder: final norm, then the
// unembedding (RMSNorm models; a sketch).
type engineLens struct{ m *model.Model }

func (l engineLens) Unembed(v []float32) []float32 {
	xn := make([]float32, len(v))
	kernels.RMSNorm(xn, v, l.m.W.FinalNorm.W, float32(l.m.NormEps), l.m.Norm == arch.RMSNormPlusOne)
	out := make([]float32, l.m.Vocab)
	l.m.W.Output.MatMul(out, xn, 1)
	return out
}

func (l engineLens) TokenText(id int) string { return l.m.Tok.Token(id) }
