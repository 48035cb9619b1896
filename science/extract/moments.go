package extract

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Moments are running first and second moments of activation rows at one
// layer, in float64: the count, the sum and the upper triangle of Σ x xᵀ.
// They give the mean, the covariance (hence the PCA) and the mean and variance
// of any projection. Memory: (d² + d) × 8 bytes.
type Moments struct {
	D     int
	N     int64
	Sum   []float64 // [D]
	Outer []float64 // [D*D], row-major, upper triangle used
}

// NewMoments returns empty moments of width d.
func NewMoments(d int) *Moments {
	return &Moments{D: d, Sum: make([]float64, d), Outer: make([]float64, d*d)}
}

// maxChunk bounds the float64 copy made per AddRows call.
const maxChunk = 256

// AddRows adds rows lo..hi-1 of the row-major [T, D] matrix rows.
func (m *Moments) AddRows(rows []float32, lo, hi int) {
	d := m.D
	buf := make([]float64, min(hi-lo, maxChunk)*d)
	for start := lo; start < hi; start += maxChunk {
		n := min(hi-start, maxChunk)
		a := buf[:n*d]
		for i, x := range rows[start*d : (start+n)*d] {
			a[i] = float64(x)
		}
		for t := 0; t < n; t++ {
			for j, x := range a[t*d : (t+1)*d] {
				m.Sum[j] += x
			}
		}
		// Outer += aᵀ a (upper triangle).
		blas64.Syrk(blas.Trans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: a}, 1,
			blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: m.Outer})
		m.N += int64(n)
	}
}

// Merge adds o into m.
func (m *Moments) Merge(o *Moments) error {
	if m.D != o.D {
		return fmt.Errorf("extract: merging moments of width %d into %d", o.D, m.D)
	}
	m.N += o.N
	for j, x := range o.Sum {
		m.Sum[j] += x
	}
	for j, x := range o.Outer {
		m.Outer[j] += x
	}
	return nil
}

// Mean returns the mean row.
func (m *Moments) Mean() []float64 {
	out := make([]float64, m.D)
	if m.N == 0 {
		return out
	}
	for j, x := range m.Sum {
		out[j] = x / float64(m.N)
	}
	return out
}

// Covariance returns the (population) covariance of the rows.
func (m *Moments) Covariance() *mat.SymDense {
	d := m.D
	c := mat.NewSymDense(d, nil)
	if m.N == 0 {
		return c
	}
	mu := m.Mean()
	inv := 1 / float64(m.N)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			c.SetSym(i, j, m.Outer[i*d+j]*inv-mu[i]*mu[j])
		}
	}
	return c
}

// ProjectionStats returns the mean and standard deviation of the rows'
// projections x·u on direction u (used unnormalised).
func (m *Moments) ProjectionStats(u []float64) (mean, std float64) {
	d := m.D
	if m.N == 0 {
		return 0, 0
	}
	mu := m.Mean()
	for j := range u {
		mean += mu[j] * u[j]
	}
	// uᵀ (Outer/N) u − mean².
	var q float64
	inv := 1 / float64(m.N)
	for i := 0; i < d; i++ {
		if u[i] == 0 {
			continue
		}
		var row float64
		for j := 0; j < d; j++ {
			var o float64
			if i <= j {
				o = m.Outer[i*d+j]
			} else {
				o = m.Outer[j*d+i]
			}
			row += o * u[j]
		}
		q += u[i] * row
	}
	v := q*inv - mean*mean
	if v < 0 {
		v = 0
	}
	return mean, math.Sqrt(v)
}

// PCA is the leading principal components of a set of rows.
type PCA struct {
	Components  [][]float64 // k unit vectors of width d, by decreasing variance
	Variances   []float64   // their eigenvalues
	Explained   float64     // share of the total variance they explain
	Total       float64     // total variance (trace of the covariance)
	Eigenvalues []float64   // every eigenvalue, decreasing (for reports)
}

// PCA returns the fewest leading components whose variance is at least
// fraction of the total (none for fraction ≤ 0; at most maxK when maxK > 0).
func (m *Moments) PCA(fraction float64, maxK int) (*PCA, error) {
	if m.N < 2 {
		return nil, errors.New("extract: PCA needs at least two neutral rows")
	}
	if fraction > 1 {
		return nil, fmt.Errorf("extract: variance fraction %g above 1", fraction)
	}
	var es mat.EigenSym
	if !es.Factorize(m.Covariance(), true) {
		return nil, errors.New("extract: eigendecomposition of the neutral covariance failed")
	}
	vals := es.Values(nil)
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	order := make([]int, len(vals))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
	p := &PCA{}
	for _, i := range order {
		v := max(vals[i], 0) // clamp rounding noise
		p.Eigenvalues = append(p.Eigenvalues, v)
		p.Total += v
	}
	if fraction <= 0 || p.Total == 0 {
		return p, nil
	}
	var cum float64
	for k, i := range order {
		if cum >= fraction*p.Total || (maxK > 0 && k >= maxK) {
			break
		}
		c := make([]float64, m.D)
		mat.Col(c, i, &vecs)
		p.Components = append(p.Components, c)
		p.Variances = append(p.Variances, p.Eigenvalues[k])
		cum += p.Eigenvalues[k]
	}
	p.Explained = cum / p.Total
	return p, nil
}

// ProjectOut removes from v its components along the (orthonormal) PCs, in
// place.
func (p *PCA) ProjectOut(v []float64) {
	if p == nil {
		return
	}
	for _, c := range p.Components {
		var dot float64
		for j := range v {
			dot += v[j] * c[j]
		}
		for j := range v {
			v[j] -= dot * c[j]
		}
	}
}
