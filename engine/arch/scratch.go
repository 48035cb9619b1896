package arch

import "sync"

// scratch holds the activations of one forward call; pooled per model shape.
type scratch struct {
	rows                   int
	x, xn, q, k, v, att, o []float32
	gate, up               []float32
	lin, lout              []float32 // unembedding input and output
	off, pos               []int     // the batch's row offsets and positions
	rowsNorm, rowsOut      []int     // rows through the final norm, rows unembedded
	pat                    []float32 // attention weights for the score and pattern hooks
}

var scratchPool sync.Pool

func getScratch(m *Transformer, n int) *scratch {
	s, _ := scratchPool.Get().(*scratch)
	if s == nil {
		s = &scratch{}
	}
	d, f := m.Dim, m.FFN
	s.rows = n
	s.x = grow(s.x, n*d)
	s.xn = grow(s.xn, n*d)
	s.q = grow(s.q, n*m.QDim())
	s.k = grow(s.k, n*m.KVDim())
	s.v = grow(s.v, n*m.KVDim())
	s.att = grow(s.att, n*m.QDim())
	s.o = grow(s.o, n*max(d, m.QDim()))
	s.gate = grow(s.gate, n*f)
	s.up = grow(s.up, n*f)
	return s
}

func putScratch(s *scratch) { scratchPool.Put(s) }

// grow returns buf resized to size, reallocating when it is too small.
func grow(buf []float32, size int) []float32 {
	if cap(buf) < size {
		return make([]float32, size)
	}
	return buf[:size]
}
