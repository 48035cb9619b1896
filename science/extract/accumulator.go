package extract

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// NormStats are running statistics of residual-row L2 norms at one layer.
type NormStats struct {
	Sum   float64 // Σ ‖h‖
	SumSq float64 // Σ ‖h‖²
	N     int64   // rows
}

// Add records the norms of n rows given their sum and sum of squares.
func (s *NormStats) Add(sum, sumSq float64, n int) {
	s.Sum += sum
	s.SumSq += sumSq
	s.N += int64(n)
}

// Merge adds o into s.
func (s *NormStats) Merge(o NormStats) { s.Add(o.Sum, o.SumSq, int(o.N)) }

// Mean returns the mean row norm (0 when empty).
func (s NormStats) Mean() float64 {
	if s.N == 0 {
		return 0
	}
	return s.Sum / float64(s.N)
}

// RMS returns the root mean square row norm (0 when empty).
func (s NormStats) RMS() float64 {
	if s.N == 0 {
		return 0
	}
	return math.Sqrt(s.SumSq / float64(s.N))
}

// Accumulator keeps, per emotion and layer, the running sum of per-story
// mean vectors and the story count, plus per-layer residual-norm statistics.
// Layer slices are indexed by position in Layers (not by model layer).
type Accumulator struct {
	Emotions []string
	Layers   []int // model layers, 0-based
	D        int
	Sum      [][]float64 // [emotion][layerIdx*D + j]
	Count    []int       // stories per emotion
	Norms    []NormStats // [layerIdx], over every averaged row added with AddNorms
	Skipped  int         // stories too short for the window
	Tokens   int64       // rows averaged into story means
}

// NewAccumulator returns an empty accumulator.
func NewAccumulator(emotions []string, layers []int, d int) *Accumulator {
	a := &Accumulator{Emotions: slices.Clone(emotions), Layers: slices.Clone(layers), D: d,
		Sum: make([][]float64, len(emotions)), Count: make([]int, len(emotions)), Norms: make([]NormStats, len(layers))}
	for e := range a.Sum {
		a.Sum[e] = make([]float64, len(layers)*d)
	}
	return a
}

// Add adds one story's per-layer means (len(Layers) slices of D values) to
// emotion e.
func (a *Accumulator) Add(emotion int, perLayerStoryMeans [][]float32) error {
	if emotion < 0 || emotion >= len(a.Emotions) {
		return fmt.Errorf("emotion index %d out of range [0, %d)", emotion, len(a.Emotions))
	}
	if len(perLayerStoryMeans) != len(a.Layers) {
		return fmt.Errorf("%d layers of means, want %d", len(perLayerStoryMeans), len(a.Layers))
	}
	for l, m := range perLayerStoryMeans {
		if len(m) != a.D {
			return fmt.Errorf("layer %d: mean of width %d, want %d", a.Layers[l], len(m), a.D)
		}
	}
	s := a.Sum[emotion]
	for l, m := range perLayerStoryMeans {
		row := s[l*a.D : (l+1)*a.D]
		for j, x := range m {
			row[j] += float64(x)
		}
	}
	a.Count[emotion]++
	return nil
}

// AddNorms records row-norm statistics for layer index l.
func (a *Accumulator) AddNorms(l int, sum, sumSq float64, rows int) {
	a.Norms[l].Add(sum, sumSq, rows)
	if l == 0 {
		a.Tokens += int64(rows)
	}
}

// compatible reports why o cannot be merged into a.
func (a *Accumulator) compatible(o *Accumulator) error {
	if a.D != o.D || !slices.Equal(a.Layers, o.Layers) || !slices.Equal(a.Emotions, o.Emotions) {
		return errors.New("extract: accumulators differ in emotions, layers or width")
	}
	return nil
}

// Merge adds o into a. Both must have the same emotions, layers and width.
func (a *Accumulator) Merge(o *Accumulator) error {
	if err := a.compatible(o); err != nil {
		return err
	}
	for e := range a.Sum {
		for j, x := range o.Sum[e] {
			a.Sum[e][j] += x
		}
		a.Count[e] += o.Count[e]
	}
	for l := range a.Norms {
		a.Norms[l].Merge(o.Norms[l])
	}
	a.Skipped += o.Skipped
	a.Tokens += o.Tokens
	return nil
}

// Mean returns the mean story vector of emotion e at layer index l (nil when
// the emotion has no stories).
func (a *Accumulator) Mean(e, l int) []float64 {
	if a.Count[e] == 0 {
		return nil
	}
	out := slices.Clone(a.Sum[e][l*a.D : (l+1)*a.D])
	inv := 1 / float64(a.Count[e])
	for j := range out {
		out[j] *= inv
	}
	return out
}

// Clone returns a deep copy.
func (a *Accumulator) Clone() *Accumulator {
	b := *a
	b.Emotions, b.Layers = slices.Clone(a.Emotions), slices.Clone(a.Layers)
	b.Sum = make([][]float64, len(a.Sum))
	for e := range a.Sum {
		b.Sum[e] = slices.Clone(a.Sum[e])
	}
	b.Count, b.Norms = slices.Clone(a.Count), slices.Clone(a.Norms)
	return &b
}
