package hook

import "math"

// Capture records every row a point sees, across forward calls, in position
// order: after a prefill and any number of decode steps Data holds [Len, Dim].
//
// For the scores and the pattern, whose rows widen as keys are added, each
// row is [Heads, Dim/Heads] over the most keys seen so far; keys a row did
// not see hold -Inf (scores) or 0 (pattern).
type Capture struct {
	Point Point
	Dim   int
	Heads int       // Act.Heads: heads per row for the per-head points, else 0
	Pos   []int     // absolute position of each captured row
	Data  []float32 // [len(Pos), Dim]
}

// Func returns the hook function that appends to c.
func (c *Capture) Func() Func {
	return func(a *Act) {
		if a.Point.Kind.Attention() && c.Dim != 0 && a.Dim != c.Dim {
			c.widen(a)
			return
		}
		c.Dim, c.Heads = a.Dim, a.Heads
		c.Data = append(c.Data, a.Data[:a.Rows*a.Dim]...)
		for i := 0; i < a.Rows; i++ {
			c.Pos = append(c.Pos, a.Pos+i)
		}
	}
}

// widen appends a's rows of attention weights to rows over a different
// number of keys, padding the narrower with -Inf (scores) or 0 (pattern).
func (c *Capture) widen(a *Act) {
	h := a.Heads
	oldK, newK := c.Dim/h, a.Dim/h
	keys := max(oldK, newK)
	var pad float32
	if a.Point.Kind == AttnScores {
		pad = float32(math.Inf(-1))
	}
	re := func(dst, src []float32, rows, k int) []float32 {
		for r := 0; r < rows; r++ {
			for hh := 0; hh < h; hh++ {
				row := src[(r*h+hh)*k : (r*h+hh+1)*k]
				dst = append(dst, row...)
				for j := k; j < keys; j++ {
					dst = append(dst, pad)
				}
			}
		}
		return dst
	}
	var data []float32
	data = re(data, c.Data, len(c.Pos), oldK)
	data = re(data, a.Data, a.Rows, newK)
	c.Data, c.Dim = data, h*keys
	for i := 0; i < a.Rows; i++ {
		c.Pos = append(c.Pos, a.Pos+i)
	}
}

// Rows returns the number of captured rows.
func (c *Capture) Rows() int { return len(c.Pos) }

// Span selects absolute positions [From, To); To <= 0 means no upper end.
type Span struct{ From, To int }

// Contains reports whether pos is in the span.
func (s Span) Contains(pos int) bool { return pos >= s.From && (s.To <= 0 || pos < s.To) }

// Spans is a union of spans; an empty Spans selects every position.
type Spans []Span

// Contains reports whether pos is selected.
func (ss Spans) Contains(pos int) bool {
	if len(ss) == 0 {
		return true
	}
	for _, s := range ss {
		if s.Contains(pos) {
			return true
		}
	}
	return false
}

// AddVector returns a hook that adds v to every selected row.
func AddVector(v []float32, where Spans) Func {
	return func(a *Act) {
		for i := 0; i < a.Rows; i++ {
			if !where.Contains(a.Pos + i) {
				continue
			}
			r := a.Row(i)
			for j := range r {
				r[j] += v[j]
			}
		}
	}
}

// ReplaceWith returns a hook that overwrites every selected row with v.
func ReplaceWith(v []float32, where Spans) Func {
	return func(a *Act) {
		for i := 0; i < a.Rows; i++ {
			if where.Contains(a.Pos + i) {
				copy(a.Row(i), v)
			}
		}
	}
}
