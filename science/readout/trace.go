package readout

import (
	"fmt"
	"sort"
)

// Ranked is one emotion's score at a token.
type Ranked struct {
	Emotion string  `json:"emotion"`
	Score   float32 `json:"score"`
}

// Token is one token of a trace.
type Token struct {
	Pos     int      `json:"pos"`
	ID      int      `json:"id"`
	Text    string   `json:"text"`
	Special bool     `json:"special,omitempty"` // BOS and other special tokens: not scored in the scale
	Top     []Ranked `json:"top"`               // the top-k emotions by the trace's metric
}

// Trace is a text's readout at one layer.
type Trace struct {
	Model    string   `json:"model,omitempty"`
	Layer    int      `json:"layer"`
	Kind     string   `json:"kind"`   // denoised or raw vectors
	Metric   Metric   `json:"metric"` // what Values, Top and Scale hold
	Smooth   int      `json:"smooth"` // moving-average window (1: none)
	Emotions []string `json:"emotions"`
	Tokens   []Token  `json:"tokens"`
	// Values[e][t] is emotion e's score at token t (after smoothing).
	Values [][]float32 `json:"values"`
	// Proj, Cos and Z are the unsmoothed scores, [emotion][token]; Z is nil
	// without a neutral baseline.
	Proj [][]float32 `json:"proj"`
	Cos  [][]float32 `json:"cos"`
	Z    [][]float32 `json:"z,omitempty"`
	// Scale is the 99th-percentile |value| over the non-special tokens of
	// every emotion: views map ±Scale to full colour.
	Scale float64 `json:"scale"`
}

// TraceOptions configure BuildTrace.
type TraceOptions struct {
	Metric Metric // default: z when available, else projection
	Smooth int    // moving-average window; ≤ 1: none
	TopK   int    // emotions per token in Token.Top (default 3)
}

// BuildTrace assembles a trace from per-token scores (parallel to toks).
func BuildTrace(r *Reader, toks []Token, scores []Scores, o TraceOptions) (*Trace, error) {
	if len(toks) != len(scores) {
		return nil, fmt.Errorf("readout: %d tokens but %d scores", len(toks), len(scores))
	}
	if o.Metric == "" {
		o.Metric = Projection
		if r.HasBaseline() {
			o.Metric = ZScore
		}
	}
	if o.Metric == ZScore && !r.HasBaseline() {
		return nil, fmt.Errorf("readout: z-scores need the neutral baseline, which this vector pack lacks (use --metric proj or cos)")
	}
	if o.TopK <= 0 {
		o.TopK = 3
	}
	if o.Smooth < 1 {
		o.Smooth = 1
	}
	n := len(r.Emotions)
	tr := &Trace{Layer: r.Layer, Kind: r.Kind.String(), Metric: o.Metric, Smooth: o.Smooth,
		Emotions: r.Emotions, Tokens: toks}
	cols := func(get func(s *Scores) []float32) [][]float32 {
		out := make([][]float32, n)
		for e := range out {
			out[e] = make([]float32, len(scores))
			for t := range scores {
				out[e][t] = get(&scores[t])[e]
			}
		}
		return out
	}
	tr.Proj = cols(func(s *Scores) []float32 { return s.Proj })
	tr.Cos = cols(func(s *Scores) []float32 { return s.Cos })
	if r.HasBaseline() {
		tr.Z = cols(func(s *Scores) []float32 { return s.Z })
	}
	src := tr.Proj
	switch o.Metric {
	case Cosine:
		src = tr.Cos
	case ZScore:
		src = tr.Z
	}
	var all []float32
	tr.Values = make([][]float32, n)
	for e := range src {
		tr.Values[e] = Smooth(src[e], o.Smooth)
		for t, v := range tr.Values[e] {
			if !toks[t].Special {
				all = append(all, v)
			}
		}
	}
	tr.Scale = Percentile(all, 99)
	for t := range tr.Tokens {
		rank := make([]Ranked, n)
		for e := range rank {
			rank[e] = Ranked{Emotion: r.Emotions[e], Score: tr.Values[e][t]}
		}
		sort.SliceStable(rank, func(a, b int) bool { return rank[a].Score > rank[b].Score })
		tr.Tokens[t].Top = rank[:min(o.TopK, n)]
	}
	return tr, nil
}

// TopEmotions returns the k emotions that rank first most often across the
// non-special tokens (ties broken by the mean value), the default selection
// of the views.
func (tr *Trace) TopEmotions(k int) []string {
	count := map[string]int{}
	for _, t := range tr.Tokens {
		if !t.Special && len(t.Top) > 0 {
			count[t.Top[0].Emotion]++
		}
	}
	mean := make([]float64, len(tr.Emotions))
	for e, vs := range tr.Values {
		for t, v := range vs {
			if !tr.Tokens[t].Special {
				mean[e] += float64(v)
			}
		}
	}
	idx := make([]int, len(tr.Emotions))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ca, cb := count[tr.Emotions[idx[a]]], count[tr.Emotions[idx[b]]]
		if ca != cb {
			return ca > cb
		}
		return mean[idx[a]] > mean[idx[b]]
	})
	out := make([]string, 0, k)
	for _, i := range idx[:min(k, len(idx))] {
		out = append(out, tr.Emotions[i])
	}
	return out
}

// Index returns the position of an emotion in the trace, or -1.
func (tr *Trace) Index(emotion string) int {
	for i, e := range tr.Emotions {
		if e == emotion {
			return i
		}
	}
	return -1
}
