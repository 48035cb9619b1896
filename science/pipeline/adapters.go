package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/stories"
)

// Generator writes stories with the loaded model: raw prompts are
// continued (the continuation is returned), chat requests go through the
// model's chat template (the reply is returned). Requests of one call are
// decoded together.
type Generator struct{ M *model.Model }

// Name identifies the generator in stored stories.
func (g Generator) Name() string { return "limbic:" + g.M.Name }

// Generate implements stories.Generator.
func (g Generator) Generate(ctx context.Context, reqs []stories.Request) ([]string, error) {
	tok, err := g.M.Tokenizer()
	if err != nil {
		return nil, err
	}
	mreqs := make([]model.Request, len(reqs))
	prompts := make([][]int, len(reqs))
	for i, r := range reqs {
		if r.Chat() {
			msgs := make([]chat.Message, len(r.Messages))
			for j, m := range r.Messages {
				msgs[j] = chat.Message{Role: m.Role, Content: m.Content}
			}
			if prompts[i], err = chat.Encode(tok, msgs, true); err != nil {
				return nil, err
			}
		} else {
			prompts[i] = tok.Encode(r.Prompt, tok.DefaultAddBOS())
		}
		if len(prompts[i]) >= g.M.MaxSeq {
			return nil, fmt.Errorf("generator: prompt of %d tokens does not fit the context length %d", len(prompts[i]), g.M.MaxSeq)
		}
		mreqs[i] = model.Request{Prompt: prompts[i], Max: min(r.MaxTokens, g.M.MaxSeq-len(prompts[i])), Stop: g.M.StopIDs(),
			Sampling: model.Sampling{Temp: r.Temperature, TopP: r.TopP, Seed: r.Seed}}
	}
	res, err := model.Generate(ctx, g.M.Transformer, mreqs, nil)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(reqs))
	for i, r := range res {
		d := tok.NewDecoder()
		d.Skip(prompts[i])
		var b strings.Builder
		for _, id := range r.IDs {
			b.WriteString(d.Next(id))
		}
		b.WriteString(d.Flush())
		out[i] = b.String()
	}
	return out, nil
}

// Runner reads the residual stream of texts for extraction. Texts of one
// call are run together, in forward calls of at most model.PrefillChunk rows.
type Runner struct {
	M       *model.Model
	MaxText int // read at most this many text tokens per text (0: all that fit)
}

// DModel implements extract.Runner.
func (r Runner) DModel() int { return r.M.Dim }

// NumLayers implements extract.Runner.
func (r Runner) NumLayers() int { return r.M.Layers }

// Residuals implements extract.Runner: each text is BOS (when the model
// uses one), Prefix, Text; textStart is the first token of Text.
func (r Runner) Residuals(ctx context.Context, texts []extract.Text, layers []int, visit func(i, layer int, rows []float32, textStart int) error) error {
	tok, err := r.M.Tokenizer()
	if err != nil {
		return err
	}
	bos := tok.DefaultAddBOS()
	seqs := make([]*arch.Seq, len(texts))
	reqs := make([]model.Request, len(texts))
	caps := make([][]*hook.Capture, len(texts))
	starts := make([]int, len(texts))
	for i, t := range texts {
		ids := tok.Encode(t.Prefix+t.Text, bos)
		starts[i] = len(tok.Encode(t.Prefix, bos))
		if t.Prefix == "" && bos {
			starts[i] = 1
		} else if t.Prefix == "" {
			starts[i] = 0
		}
		if r.MaxText > 0 && len(ids) > starts[i]+r.MaxText {
			ids = ids[:starts[i]+r.MaxText]
		}
		if len(ids) > r.M.MaxSeq {
			ids = ids[:r.M.MaxSeq]
		}
		if len(ids) == 0 {
			ids = []int{max(tok.BOS(), 0)}
		}
		hs := &hook.Set{}
		for _, l := range layers {
			c := &hook.Capture{Point: hook.Block(l, hook.ResidPost)}
			hs.Add(c.Point, c.Func())
			caps[i] = append(caps[i], c)
		}
		seqs[i] = &arch.Seq{Cache: r.M.NewCache(), Hooks: hs}
		reqs[i] = model.Request{Prompt: ids}
	}
	if err := model.PrefillOnly(ctx, r.M.Transformer, seqs, reqs); err != nil {
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

// Lens is the logit lens: the model's final norm, then its unembedding.
type Lens struct{ M *model.Model }

// Unembed implements validate.Unembedder with the model's own final norm,
// unembedding and final soft-cap (arch.Transformer.Unembed). v must have
// width d_model; anything else is a programming error and panics.
func (l Lens) Unembed(v []float32) []float32 {
	out, err := l.M.Unembed(v)
	if err != nil {
		panic(err)
	}
	return out
}

// TokenText implements validate.Unembedder.
func (l Lens) TokenText(id int) string {
	if l.M.Tok == nil {
		return fmt.Sprintf("<%d>", id)
	}
	return l.M.Tok.Token(id)
}
