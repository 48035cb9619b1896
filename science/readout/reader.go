package readout

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Reader scores activations against the unit emotion vectors of one layer.
// It is safe for concurrent use.
type Reader struct {
	Layer    int
	Emotions []string
	Kind     vecpack.Kind
	d        int
	units    *kernels.Matrix // [n, d] unit vectors
	mean     []float32       // neutral projection mean per emotion (nil: no baseline)
	std      []float32
}

// Best, given as a layer, selects the pack's best layer (the validated one,
// else the extracted layer two thirds of the way up).
const Best = math.MinInt32

// ParseLayer reads a readout layer as the CLI gives it: "best" or a layer
// number, negative counting from the end (-1 is the last layer).
func ParseLayer(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "best" || s == "" {
		return Best, nil
	}
	l, err := strconv.Atoi(s)
	if err != nil || l == Best {
		return 0, fmt.Errorf("layer %q: want best or a layer number (negative counts from the end: -1 is the last)", s)
	}
	return l, nil
}

// ResolveLayer turns a layer as NewReader takes it (Best, a layer, or a
// negative layer counting from the end of the model) into a layer of the
// pack's model.
func ResolveLayer(p *vecpack.Pack, layer int) (int, error) {
	if layer == Best {
		if p.Meta.BestLayer >= 0 {
			return p.Meta.BestLayer, nil
		}
		return p.Meta.Layers[len(p.Meta.Layers)*2/3], nil
	}
	if layer < 0 {
		n := p.Meta.Model.NLayers
		if n <= 0 || layer+n < 0 {
			return 0, fmt.Errorf("readout: layer %d: the model has %d layers", layer, n)
		}
		layer += n
	}
	return layer, nil
}

// NewReader builds a reader for layer (Best: the pack's best layer;
// negative: from the end, -1 is the last) and the named emotions (nil: all
// of the pack's).
func NewReader(p *vecpack.Pack, layer int, emotions []string, kind vecpack.Kind) (*Reader, error) {
	layer, err := ResolveLayer(p, layer)
	if err != nil {
		return nil, err
	}
	li, err := p.LayerIndex(layer)
	if err != nil {
		return nil, err
	}
	if len(emotions) == 0 {
		emotions = p.Meta.Emotions
	}
	d := p.D()
	r := &Reader{Layer: layer, Emotions: slices.Clone(emotions), Kind: kind, d: d}
	units := make([]float32, 0, len(emotions)*d)
	L := &p.Layers[li]
	meanAll, stdAll := L.NeutralMeanDenoised, L.NeutralStdDenoised
	if kind == vecpack.Raw {
		meanAll, stdAll = L.NeutralMeanRaw, L.NeutralStdRaw
	}
	for _, e := range emotions {
		u, err := p.Unit(layer, e, kind)
		if err != nil {
			return nil, err
		}
		units = append(units, u...)
		if meanAll != nil {
			i, _ := p.EmotionIndex(e)
			r.mean = append(r.mean, meanAll[i])
			r.std = append(r.std, stdAll[i])
		}
	}
	r.units = kernels.NewF32Matrix(len(emotions), d, units)
	return r, nil
}

// HasBaseline reports whether z-scores are available.
func (r *Reader) HasBaseline() bool { return r.mean != nil }

// Point is the hook point the reader reads.
func (r *Reader) Point() hook.Point { return hook.Block(r.Layer, hook.ResidPost) }

// Scores is one token's readout, parallel to the reader's emotions.
type Scores struct {
	Proj []float32 `json:"proj"`
	Cos  []float32 `json:"cos"`
	Z    []float32 `json:"z,omitempty"`
	Norm float32   `json:"norm"` // ‖h‖
}

// Score computes one activation row's scores.
func (r *Reader) Score(h []float32) Scores {
	n := len(r.Emotions)
	s := Scores{Proj: make([]float32, n), Cos: make([]float32, n)}
	r.ScoreInto(h, &s)
	return s
}

// ScoreInto is Score into existing slices (allocation-free when they have
// room), for the hot path of live telemetry.
func (r *Reader) ScoreInto(h []float32, s *Scores) {
	n := len(r.Emotions)
	s.Proj = grow(s.Proj, n)
	s.Cos = grow(s.Cos, n)
	for i := 0; i < n; i++ {
		s.Proj[i] = kernels.Dot(h, r.units.F32Data()[i*r.d:(i+1)*r.d])
	}
	norm := float32(math.Sqrt(float64(kernels.Dot(h, h))))
	s.Norm = norm
	for i, p := range s.Proj {
		if norm > 0 {
			s.Cos[i] = p / norm
		} else {
			s.Cos[i] = 0
		}
	}
	if r.mean != nil {
		s.Z = grow(s.Z, n)
		for i, p := range s.Proj {
			if r.std[i] > 0 {
				s.Z[i] = (p - r.mean[i]) / r.std[i]
			} else {
				s.Z[i] = 0
			}
		}
	}
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Hook returns a hook at the reader's point that scores every row and calls
// fn with its absolute position. Scores are reused between calls: copy what
// you keep.
func (r *Reader) Hook(fn func(pos int, s *Scores)) hook.Func {
	var s Scores
	return func(a *hook.Act) {
		for i := 0; i < a.Rows; i++ {
			r.ScoreInto(a.Row(i), &s)
			fn(a.Pos+i, &s)
		}
	}
}

// Metric selects which score a view shows.
type Metric string

// Metrics.
const (
	Projection Metric = "proj"
	Cosine     Metric = "cos"
	ZScore     Metric = "z"
)

// ParseMetric parses "proj", "cos" or "z".
func ParseMetric(s string) (Metric, error) {
	switch Metric(s) {
	case Projection, Cosine, ZScore:
		return Metric(s), nil
	}
	return "", fmt.Errorf("unknown metric %q (want proj, cos or z)", s)
}

// Percentile returns the p-th percentile (0..100) of |xs| (nearest rank).
func Percentile(xs []float32, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	a := make([]float64, len(xs))
	for i, x := range xs {
		a[i] = math.Abs(float64(x))
	}
	sort.Float64s(a)
	k := int(math.Ceil(p/100*float64(len(a)))) - 1
	return a[max(0, min(k, len(a)-1))]
}

// Smooth returns the centred moving average of xs over w positions (w ≤ 1:
// a copy).
func Smooth(xs []float32, w int) []float32 {
	out := make([]float32, len(xs))
	if w <= 1 {
		copy(out, xs)
		return out
	}
	lo, hi := (w-1)/2, w/2
	for i := range xs {
		a, b := max(0, i-lo), min(len(xs), i+hi+1)
		var s float64
		for _, x := range xs[a:b] {
			s += float64(x)
		}
		out[i] = float32(s / float64(b-a))
	}
	return out
}
