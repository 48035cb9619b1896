package validate

import (
	"math"
	"math/rand/v2"
	"sort"
)

// ARI returns the adjusted Rand index of two labelings of the same items.
func ARI(a, b []int) float64 {
	n := len(a)
	if n != len(b) || n < 2 {
		return math.NaN()
	}
	type pair struct{ x, y int }
	nij := map[pair]int{}
	ai, bj := map[int]int{}, map[int]int{}
	for i := range a {
		nij[pair{a[i], b[i]}]++
		ai[a[i]]++
		bj[b[i]]++
	}
	c2 := func(k int) float64 { return float64(k) * float64(k-1) / 2 }
	var index, sa, sb float64
	for _, v := range nij {
		index += c2(v)
	}
	for _, v := range ai {
		sa += c2(v)
	}
	for _, v := range bj {
		sb += c2(v)
	}
	expected := sa * sb / c2(n)
	maxIndex := (sa + sb) / 2
	if maxIndex == expected {
		if index == maxIndex {
			return 1
		}
		return 0
	}
	return (index - expected) / (maxIndex - expected)
}

// ranks returns average ranks (1-based) of x, ties sharing their mean rank.
func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Pearson returns the Pearson correlation. It is NaN when undefined: fewer
// than two pairs, slices of different lengths, or either series constant.
func Pearson(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) != len(y) || len(x) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Spearman returns the Spearman rank correlation (average ranks for ties).
// It is NaN when undefined: fewer than two pairs, slices of different
// lengths, or either series constant (a constant has no ranking to
// correlate). Callers that print, compare or serialize it must check
// math.IsNaN first; JSON has no NaN.
func Spearman(x, y []float64) float64 { return Pearson(ranks(x), ranks(y)) }

// KMeans clusters the rows of x (n × d) into k groups: k-means++ seeding,
// Lloyd iterations, the best of restarts runs by inertia. It returns the
// labels and the inertia (sum of squared distances to the centroids).
func KMeans(x [][]float64, k, restarts int, seed uint64) ([]int, float64) {
	n := len(x)
	if k <= 0 || n == 0 {
		return nil, math.NaN()
	}
	if k > n {
		k = n
	}
	if restarts <= 0 {
		restarts = 1
	}
	rng := rand.New(rand.NewPCG(seed, 0x6b6d65616e73))
	var best []int
	bestInertia := math.Inf(1)
	for r := 0; r < restarts; r++ {
		labels, inertia := kmeansOnce(x, k, rng)
		if inertia < bestInertia-1e-12 {
			best, bestInertia = labels, inertia
		}
	}
	return best, bestInertia
}

func sqDist(a, b []float64) float64 {
	var s float64
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

func kmeansOnce(x [][]float64, k int, rng *rand.Rand) ([]int, float64) {
	n, d := len(x), len(x[0])
	cent := make([][]float64, 0, k)
	cent = append(cent, append([]float64(nil), x[rng.IntN(n)]...))
	dist := make([]float64, n)
	for len(cent) < k {
		var total float64
		for i := range x {
			dist[i] = math.Inf(1)
			for _, c := range cent {
				dist[i] = min(dist[i], sqDist(x[i], c))
			}
			total += dist[i]
		}
		next := 0
		if total > 0 {
			u := rng.Float64() * total
			for next = 0; next < n-1; next++ {
				u -= dist[next]
				if u < 0 {
					break
				}
			}
		} else {
			next = rng.IntN(n)
		}
		cent = append(cent, append([]float64(nil), x[next]...))
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = -1
	}
	for iter := 0; iter < 300; iter++ {
		changed := false
		for i := range x {
			bi, bd := 0, math.Inf(1)
			for c := range cent {
				if dd := sqDist(x[i], cent[c]); dd < bd {
					bi, bd = c, dd
				}
			}
			if labels[i] != bi {
				labels[i], changed = bi, true
			}
		}
		if !changed {
			break
		}
		counts := make([]int, k)
		for c := range cent {
			clear(cent[c])
		}
		for i, l := range labels {
			counts[l]++
			for j := 0; j < d; j++ {
				cent[l][j] += x[i][j]
			}
		}
		for c := range cent {
			if counts[c] == 0 { // re-seed an empty cluster with the farthest point
				far, fd := 0, -1.0
				for i := range x {
					if dd := sqDist(x[i], cent[labels[i]]); dd > fd {
						far, fd = i, dd
					}
				}
				copy(cent[c], x[far])
				continue
			}
			for j := range cent[c] {
				cent[c][j] /= float64(counts[c])
			}
		}
	}
	var inertia float64
	for i, l := range labels {
		inertia += sqDist(x[i], cent[l])
	}
	return canonical(labels), inertia
}

// canonical renumbers labels in order of first appearance.
func canonical(labels []int) []int {
	m := map[int]int{}
	out := make([]int, len(labels))
	for i, l := range labels {
		if _, ok := m[l]; !ok {
			m[l] = len(m)
		}
		out[i] = m[l]
	}
	return out
}
