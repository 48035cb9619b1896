package extract

import (
	"errors"
	"fmt"
	"math"
)

// DefaultOffset is the paper's token offset: averaging starts 50 tokens into
// the story text.
const DefaultOffset = 50

// ShortPolicy says what to do with a story whose text has no tokens at or
// beyond the offset.
type ShortPolicy string

// The short-story policies.
const (
	ShortSkip ShortPolicy = "skip" // skip it and count it (default)
	ShortTail ShortPolicy = "tail" // average its last ceil(n/2) text tokens
)

// ErrTooShort is returned for a story that the window skips.
var ErrTooShort = errors.New("story too short for the averaging window")

// Window selects the token positions of a text that are averaged.
type Window struct {
	Offset int         // first averaged position, 0-based, counted from the first text token
	Short  ShortPolicy // "" means ShortSkip
}

// Check reports an invalid window.
func (w Window) Check() error {
	if w.Offset < 0 {
		return fmt.Errorf("negative token offset %d", w.Offset)
	}
	if w.Short != ShortSkip && w.Short != ShortTail && w.Short != "" {
		return fmt.Errorf("unknown short-story policy %q (want skip or tail)", w.Short)
	}
	return nil
}

// Range returns the absolute positions [lo, hi) to average in a sequence of
// T tokens whose text starts at textStart, or ErrTooShort.
func (w Window) Range(T, textStart int) (lo, hi int, err error) {
	if textStart < 0 || textStart > T {
		return 0, 0, fmt.Errorf("text start %d outside a sequence of %d tokens", textStart, T)
	}
	if w.Offset < 0 {
		return 0, 0, fmt.Errorf("negative token offset %d", w.Offset)
	}
	n := T - textStart
	if n > w.Offset {
		return textStart + w.Offset, T, nil
	}
	switch w.Short {
	case ShortSkip, "":
		return 0, 0, ErrTooShort
	case ShortTail:
		if n == 0 {
			return 0, 0, ErrTooShort
		}
		k := (n + 1) / 2
		return T - k, T, nil
	}
	return 0, 0, fmt.Errorf("unknown short-story policy %q", w.Short)
}

// MeanRows writes into dst the mean of rows lo..hi-1 of the row-major [T, d]
// matrix rows (float64 accumulation) and returns the sum and the sum of
// squares of those rows' L2 norms.
func MeanRows(dst []float32, rows []float32, d, lo, hi int) (normSum, normSq float64) {
	acc := make([]float64, d)
	for t := lo; t < hi; t++ {
		row := rows[t*d : (t+1)*d]
		var sq float64
		for j, x := range row {
			acc[j] += float64(x)
			sq += float64(x) * float64(x)
		}
		normSum += math.Sqrt(sq)
		normSq += sq
	}
	inv := 1 / float64(hi-lo)
	for j := range dst {
		dst[j] = float32(acc[j] * inv)
	}
	return normSum, normSq
}

// StoryMeans averages one story at every layer: layers[l] holds the [T, d]
// rows of layer l, textStart is the index of the first text token. It returns
// the per-layer means and the number of tokens averaged, or ErrTooShort.
func StoryMeans(layers [][]float32, d, textStart int, w Window) (means [][]float32, tokens int, err error) {
	if d <= 0 || len(layers) == 0 {
		return nil, 0, errors.New("no activations")
	}
	T := len(layers[0]) / d
	for l, rows := range layers {
		if len(rows) != T*d || len(rows)%d != 0 {
			return nil, 0, fmt.Errorf("layer %d: %d values, want %d tokens × %d", l, len(rows), T, d)
		}
	}
	lo, hi, err := w.Range(T, textStart)
	if err != nil {
		return nil, 0, err
	}
	means = make([][]float32, len(layers))
	for l, rows := range layers {
		means[l] = make([]float32, d)
		MeanRows(means[l], rows, d, lo, hi)
	}
	return means, hi - lo, nil
}
