package scaling

import (
	"fmt"
	"slices"
	"sort"
)

// ProbeFunc fits a classifier of k classes to rows x with labels and returns
// its scores for a row (higher: more likely). The study passes
// science/probe's logistic regression; any classifier fits.
type ProbeFunc func(x [][]float64, labels []int, k int) (scores func(x []float64) []float64, err error)

// probe fits the probe on a row's training stories at its best layer and
// scores both held-out sets there, in r.Probe.
func (s *study) probe(r *Row) error {
	ts := r.probeSource
	if ts == nil {
		return fmt.Errorf("no training set kept")
	}
	l := slices.Index(s.labels, r.BestLayer)
	if l < 0 {
		return fmt.Errorf("best layer %d not read", r.BestLayer)
	}
	x := make([][]float64, len(ts.train))
	y := make([]int, len(ts.train))
	for i, f := range ts.train {
		x[i], y[i] = f64(f.Means[ts.win][l]), f.Emotion
	}
	score, err := s.c.Probe(x, y, len(s.c.Emotions))
	if err != nil {
		return err
	}
	p := &Row{Setting: r.Setting, BestLayer: r.BestLayer}
	p.Label += " (probe)"
	p.Top1, p.Top5, p.HeldOut = topK(score, ts.held, ts.win, l)
	if len(s.hand) > 0 {
		var hand []feature
		for _, f := range s.hand {
			if f.Means[ts.hwin] != nil {
				hand = append(hand, f)
			}
		}
		p.HandTop1, p.HandTop5, p.Hand = topK(score, hand, ts.hwin, l)
	}
	r.Probe = p
	return nil
}

// topK returns the shares of fs whose emotion scores first and among the
// first five, at window w and layer position l.
func topK(score func([]float64) []float64, fs []feature, w, l int) (top1, top5 float64, n int) {
	for _, f := range fs {
		sc := score(f64(f.Means[w][l]))
		idx := make([]int, len(sc))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return sc[idx[a]] > sc[idx[b]] })
		rank := slices.Index(idx, f.Emotion)
		if rank == 0 {
			top1++
		}
		if rank >= 0 && rank < 5 {
			top5++
		}
		n++
	}
	if n == 0 {
		return 0, 0, 0
	}
	return top1 / float64(n), top5 / float64(n), n
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
