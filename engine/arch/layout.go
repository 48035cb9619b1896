package arch

import (
	"fmt"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// Rotary layouts. Checkpoints store the rows of q and k so that rope
// rotates either interleaved pairs (2i, 2i+1) — llama2.c, Meta and GGUF's
// llama — or halves (i, i+d/2) — Hugging Face. The two are row permutations
// of each other within every head.

// InterleavedToHalf permutes the rows of a q or k projection [heads·hd, in]
// (or a bias [heads·hd]) from the interleaved to the half layout: row 2i of
// each head becomes row i, row 2i+1 becomes row hd/2+i.
func InterleavedToHalf(t *tensor.Tensor, heads int) (*tensor.Tensor, error) {
	return permuteRows(t, heads, func(j, hd int) int {
		if j%2 == 0 {
			return j / 2
		}
		return hd/2 + j/2
	})
}

// HalfToInterleaved is the inverse of InterleavedToHalf (what llama.cpp's
// converter does to Hugging Face llama q and k).
func HalfToInterleaved(t *tensor.Tensor, heads int) (*tensor.Tensor, error) {
	return permuteRows(t, heads, func(j, hd int) int {
		if j < hd/2 {
			return 2 * j
		}
		return 2*(j-hd/2) + 1
	})
}

// permuteRows moves row j of each head to row dst(j, hd).
func permuteRows(t *tensor.Tensor, heads int, dst func(j, hd int) int) (*tensor.Tensor, error) {
	if len(t.Shape) == 0 || heads <= 0 || t.Shape[0]%heads != 0 || (t.Shape[0]/heads)%2 != 0 {
		return nil, fmt.Errorf("tensor %q: %v rows cannot be split into %d heads of even size", t.Name, t.Shape, heads)
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	rows := t.Shape[0]
	rb := len(t.Data) / rows
	hd := rows / heads
	out := &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: append([]int(nil), t.Shape...), Data: make([]byte, len(t.Data))}
	for h := 0; h < heads; h++ {
		for j := 0; j < hd; j++ {
			src, d := h*hd+j, h*hd+dst(j, hd)
			copy(out.Data[d*rb:(d+1)*rb], t.Data[src*rb:(src+1)*rb])
		}
	}
	return out, nil
}
