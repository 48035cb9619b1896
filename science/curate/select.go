package curate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Metrics a selection reads.
const (
	MetricZ   = "z"   // z-score against the pack's neutral baseline
	MetricCos = "cos" // cosine with the unit emotion vector
)

// Selector keeps the documents of a scored corpus that satisfy Expr (nil:
// all) and, with PerDominant > 0, at most PerDominant documents per
// dominant emotion (the emotion with the highest score), first come first
// kept: a quota that balances the corpus' emotional mix.
type Selector struct {
	Expr        *Expr
	Metric      string // MetricZ or MetricCos; "": z-scores when the corpus has them
	PerDominant int
}

// ParseBalance parses a --balance value: "dominant:N" with N > 0.
func ParseBalance(s string) (int, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "dominant:")
	n, err := strconv.Atoi(rest)
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("balance %q: want dominant:N, N a positive number of documents per dominant emotion", s)
	}
	return n, nil
}

// Profile is a corpus' emotional profile: per emotion the mean and
// standard deviation over documents of their mean score, and how many
// documents it dominates.
type Profile struct {
	Docs     int            `json:"docs"`
	Tokens   int64          `json:"tokens"`
	Metric   string         `json:"metric"`
	Emotions []EmotionStats `json:"emotions"`
}

// EmotionStats is one emotion's row of a Profile.
type EmotionStats struct {
	Emotion  string  `json:"emotion"`
	Mean     float64 `json:"mean"`
	Std      float64 `json:"std"`
	Dominant int     `json:"dominant"` // documents where it scores highest
}

// profiler accumulates a Profile in one pass (Welford).
type profiler struct {
	p    Profile
	mean []float64
	m2   []float64
}

func newProfiler(emotions []string, metric string) *profiler {
	pr := &profiler{p: Profile{Metric: metric}, mean: make([]float64, len(emotions)), m2: make([]float64, len(emotions))}
	for _, e := range emotions {
		pr.p.Emotions = append(pr.p.Emotions, EmotionStats{Emotion: e})
	}
	return pr
}

func (pr *profiler) add(vals []float64, tokens int, dom int) {
	pr.p.Docs++
	pr.p.Tokens += int64(tokens)
	n := float64(pr.p.Docs)
	for i, v := range vals {
		d := v - pr.mean[i]
		pr.mean[i] += d / n
		pr.m2[i] += d * (v - pr.mean[i])
	}
	pr.p.Emotions[dom].Dominant++
}

func (pr *profiler) profile() Profile {
	p := pr.p
	p.Emotions = slices.Clone(p.Emotions)
	for i := range p.Emotions {
		p.Emotions[i].Mean = round5(pr.mean[i])
		if p.Docs > 1 {
			p.Emotions[i].Std = round5(math.Sqrt(pr.m2[i] / float64(p.Docs-1)))
		}
	}
	return p
}

// Selection is the outcome of Select: the profile of the scored corpus
// before and after selection.
type Selection struct {
	Expr        string  `json:"expr,omitempty"`
	PerDominant int     `json:"per_dominant,omitempty"`
	Before      Profile `json:"before"`
	After       Profile `json:"after"`
}

// scored is the part of a scored line Select reads.
type scored struct {
	Limbic *Scores `json:"limbic"`
}

// Select reads a scored corpus (Stream's output) from in, writes the lines
// the selector keeps to out unchanged (out may be nil: only profile), and
// returns the profiles. Emotion names come from the first line's scores;
// every line must carry the same ones. name is the input's name in errors.
func Select(in io.Reader, name string, out io.Writer, sel Selector) (*Selection, error) {
	metric := sel.Metric
	if metric != "" && metric != MetricZ && metric != MetricCos {
		return nil, fmt.Errorf("metric %q: want z or cos", metric)
	}
	res := &Selection{PerDominant: sel.PerDominant}
	if sel.Expr != nil {
		res.Expr = sel.Expr.String()
	}
	var (
		emotions      []string
		bind          []int
		before, after *profiler
		quota         []int
		vals, ev      []float64
	)
	br := bufio.NewReaderSize(in, 1<<16)
	var bw *bufio.Writer
	if out != nil {
		bw = bufio.NewWriterSize(out, 1<<16)
	}
	for n := 1; ; n++ {
		raw, rerr := br.ReadBytes('\n')
		if t := bytes.TrimSpace(raw); len(t) > 0 {
			var l scored
			if err := json.Unmarshal(t, &l); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			if l.Limbic == nil {
				return nil, fmt.Errorf("%s:%d: no %q scores: score the corpus first", name, n, Key)
			}
			if metric == "" {
				metric = MetricCos
				if l.Limbic.Z != nil {
					metric = MetricZ
				}
			}
			m := l.Limbic.Cos
			if metric == MetricZ {
				m = l.Limbic.Z
				if m == nil {
					return nil, fmt.Errorf("%s:%d: no z-scores (the pack has no neutral baseline): select with the cos metric", name, n)
				}
			}
			if emotions == nil {
				for e := range m {
					emotions = append(emotions, e)
				}
				sort.Strings(emotions)
				if len(emotions) == 0 {
					return nil, fmt.Errorf("%s:%d: no emotions in the scores", name, n)
				}
				if sel.Expr != nil {
					var err error
					if bind, err = sel.Expr.Bind(emotions); err != nil {
						return nil, err
					}
				}
				before, after = newProfiler(emotions, metric), newProfiler(emotions, metric)
				quota = make([]int, len(emotions))
				vals, ev = make([]float64, len(emotions)), make([]float64, len(bind))
			}
			if len(m) != len(emotions) {
				return nil, fmt.Errorf("%s:%d: %d emotions, the first line has %d", name, n, len(m), len(emotions))
			}
			dom := 0
			for i, e := range emotions {
				v, ok := m[e]
				if !ok {
					return nil, fmt.Errorf("%s:%d: no score for %q", name, n, e)
				}
				vals[i] = v
				if v > vals[dom] {
					dom = i
				}
			}
			before.add(vals, l.Limbic.Tokens, dom)
			keep := true
			if sel.Expr != nil {
				for i, j := range bind {
					ev[i] = vals[j]
				}
				keep = sel.Expr.Eval(ev)
			}
			if keep && sel.PerDominant > 0 {
				keep = quota[dom] < sel.PerDominant
			}
			if keep {
				if sel.PerDominant > 0 {
					quota[dom]++
				}
				after.add(vals, l.Limbic.Tokens, dom)
				if bw != nil {
					if _, err := bw.Write(append(t, '\n')); err != nil {
						return nil, err
					}
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, rerr)
		}
	}
	if before == nil {
		return nil, errors.New(name + ": no documents")
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			return nil, err
		}
	}
	res.Before, res.After = before.profile(), after.profile()
	return res, nil
}
