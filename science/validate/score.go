package validate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/limbic-dev/limbic/science/vecpack"
)

// HeldOutScore is the classification of a second held-out set, such as the
// hand-written stories (catalog.Handwritten), at every analysed layer: each
// story is scored against all the pack's emotions, centred exactly as the
// model-written held-out stories are (see Analysis.Top1), so the figures
// stand beside those of Result.Layers.
type HeldOutScore struct {
	Name     string       `json:"name"`            // what the set is, e.g. "handwritten"
	Stories  int          `json:"stories"`         // stories scored
	Skipped  int          `json:"skipped_stories"` // stories of emotions outside the pack, not scored (set by the caller)
	TooShort int          `json:"too_short"`       // stories too short for the pack's window, not scored (set by the caller)
	Emotions []string     `json:"emotions"`        // pack emotions with at least one story
	Counts   []int        `json:"counts"`          // stories per entry of Emotions
	Layers   []LayerScore `json:"layers"`
}

// LayerScore is a held-out set's accuracy at one layer.
type LayerScore struct {
	Layer          int       `json:"layer"`
	Top1           float64   `json:"top1"`
	Top5           float64   `json:"top5"`
	Chance         float64   `json:"chance_top1"`      // 1 / the pack's emotions
	PerEmotionTop1 []float64 `json:"per_emotion_top1"` // per entry of HeldOutScore.Emotions
}

// Score classifies the stories of h with pack p at the layers of opt.Layers
// (nil: all the pack's layers), against all the pack's emotions. h must list
// the pack's emotions in the pack's order (stories of only some of them are
// fine) and hold means at every scored layer.
func Score(p *vecpack.Pack, h *vecpack.HeldOut, name string, opt Options) (*HeldOutScore, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if h == nil || h.Len() == 0 {
		return nil, fmt.Errorf("validate: %s set: no stories", name)
	}
	if err := p.CheckModel(h.Model); err != nil {
		return nil, fmt.Errorf("validate: %s set: %w", name, err)
	}
	if err := h.Check(); err != nil {
		return nil, fmt.Errorf("validate: %s set: %w", name, err)
	}
	if !slices.Equal(h.Emotions, p.Meta.Emotions) {
		return nil, errors.New("validate: the " + name + " set and the vector pack list different emotions")
	}
	layers := opt.Layers
	if layers == nil {
		layers = p.Meta.Layers
	}
	n := len(p.Meta.Emotions)
	all := make([]int, n)
	for e := range all {
		all[e] = e
	}
	counts := make([]int, n)
	for _, l := range h.Labels {
		counts[l]++
	}
	s := &HeldOutScore{Name: name, Stories: h.Len()}
	var present []int
	for e, c := range counts {
		if c > 0 {
			present = append(present, e)
			s.Emotions = append(s.Emotions, p.Meta.Emotions[e])
			s.Counts = append(s.Counts, c)
		}
	}
	d := p.D()
	scores := make([]float64, n)
	for _, l := range layers {
		pi, err := p.LayerIndex(l)
		if err != nil {
			return nil, err
		}
		hi := slices.Index(h.Layers, l)
		if hi < 0 {
			return nil, fmt.Errorf("validate: the %s set has no means at layer %d", name, l)
		}
		vecs, center := subset(p, pi, all, opt.Kind)
		units := unitRows(vecs)
		correct := make([]int, n)
		var top1, top5 int
		for i, label := range h.Labels {
			x := h.Story(hi, i)
			for e, u := range units {
				var sc float64
				for j := 0; j < d; j++ {
					sc += (float64(x[j]) - center[j]) * u[j]
				}
				scores[e] = sc
			}
			r := rankOf(scores, label)
			if r == 0 {
				top1++
				correct[label]++
			}
			if r < 5 {
				top5++
			}
		}
		ls := LayerScore{Layer: l, Top1: float64(top1) / float64(h.Len()), Top5: float64(top5) / float64(h.Len()),
			Chance: 1 / float64(n)}
		for _, e := range present {
			ls.PerEmotionTop1 = append(ls.PerEmotionTop1, float64(correct[e])/float64(counts[e]))
		}
		s.Layers = append(s.Layers, ls)
	}
	return s, nil
}

// At returns the score at model layer l, or nil.
func (s *HeldOutScore) At(l int) *LayerScore {
	if s == nil {
		return nil
	}
	for i := range s.Layers {
		if s.Layers[i].Layer == l {
			return &s.Layers[i]
		}
	}
	return nil
}
