package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// HandwrittenMeans reads the hand-written stories (catalog.Handwritten) of
// the pack's emotions through m and returns their per-story mean activations
// at the pack's layers, averaged with the pack's window (its token offset and
// short-story policy, from the first story token, as extraction averages a
// story's text), so they can be scored like the model-written held-out
// stories. outside counts stories of emotions not in the pack, short those
// the window skips; neither is in the set.
func HandwrittenMeans(ctx context.Context, m *model.Model, p *vecpack.Pack) (h *vecpack.HeldOut, outside, short int, err error) {
	win := extract.Window{Offset: p.Meta.TokenOffset, Short: extract.ShortPolicy(p.Meta.ShortPolicy)}
	if err := win.Check(); err != nil {
		return nil, 0, 0, fmt.Errorf("handwritten: the pack's window: %w", err)
	}
	type item struct {
		id      string
		emotion int
		text    extract.Text
	}
	var items []item
	for _, s := range catalog.Handwritten() {
		e := slices.Index(p.Meta.Emotions, s.Emotion)
		if e < 0 {
			outside++
			continue
		}
		items = append(items, item{s.ID, e, extract.Text{Text: s.Text}})
	}
	h = vecpack.NewHeldOut(p.Meta.Model, p.Meta.Emotions, p.Meta.Layers)
	r := Runner{M: m}
	d := m.Dim
	layerPos := map[int]int{}
	for i, l := range p.Meta.Layers {
		layerPos[l] = i
	}
	const batch = 8
	for lo := 0; lo < len(items); lo += batch {
		chunk := items[lo:min(lo+batch, len(items))]
		texts := make([]extract.Text, len(chunk))
		for i, it := range chunk {
			texts[i] = it.text
		}
		means := make([][][]float32, len(chunk))
		tooShort := make([]bool, len(chunk))
		for i := range means {
			means[i] = make([][]float32, len(p.Meta.Layers))
		}
		err := r.Residuals(ctx, texts, p.Meta.Layers, func(i, layer int, rows []float32, textStart int) error {
			a, b, err := win.Range(len(rows)/d, textStart)
			if errors.Is(err, extract.ErrTooShort) {
				tooShort[i] = true
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", chunk[i].id, err)
			}
			x := make([]float32, d)
			extract.MeanRows(x, rows, d, a, b)
			means[i][layerPos[layer]] = x
			return nil
		})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("handwritten: %w", err)
		}
		for i, it := range chunk {
			if tooShort[i] {
				short++
				continue
			}
			if err := h.Add(it.id, it.emotion, means[i]); err != nil {
				return nil, 0, 0, fmt.Errorf("handwritten: %s: %w", it.id, err)
			}
		}
	}
	return h, outside, short, nil
}

// ScoreHandwritten reads the hand-written stories through m and scores them
// with pack p at every layer (validate.Score). It returns nil, nil when
// none of the pack's emotions has a hand-written story.
func ScoreHandwritten(ctx context.Context, m *model.Model, p *vecpack.Pack, opt validate.Options) (*validate.HeldOutScore, error) {
	h, outside, short, err := HandwrittenMeans(ctx, m, p)
	if err != nil {
		return nil, err
	}
	if h.Len() == 0 {
		return nil, nil
	}
	s, err := validate.Score(p, h, "handwritten", opt)
	if err != nil {
		return nil, err
	}
	s.Skipped, s.TooShort = outside, short
	return s, nil
}
