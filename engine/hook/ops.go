package hook

// Capture records every row a point sees, across forward calls, in position
// order: after a prefill and any number of decode steps Data holds [Len, Dim].
type Capture struct {
	Point Point
	Dim   int
	Pos   []int     // absolute position of each captured row
	Data  []float32 // [len(Pos), Dim]
}

// Func returns the hook function that appends to c.
func (c *Capture) Func() Func {
	return func(a *Act) {
		c.Dim = a.Dim
		c.Data = append(c.Data, a.Data[:a.Rows*a.Dim]...)
		for i := 0; i < a.Rows; i++ {
			c.Pos = append(c.Pos, a.Pos+i)
		}
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
