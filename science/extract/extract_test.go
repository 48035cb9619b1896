package extract

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestWindowRange(t *testing.T) {
	tests := []struct {
		name           string
		w              Window
		T, start       int
		lo, hi         int
		wantTooShort   bool
		wantOtherError bool
	}{
		{"paper offset", Window{Offset: 50}, 120, 10, 60, 120, false, false},
		{"no prefix", Window{Offset: 50}, 51, 0, 50, 51, false, false},
		{"exactly offset tokens: skip", Window{Offset: 50}, 60, 10, 0, 0, true, false},
		{"offset 0", Window{Offset: 0}, 5, 2, 2, 5, false, false},
		{"tail policy", Window{Offset: 50, Short: ShortTail}, 40, 10, 25, 40, false, false},
		{"tail policy odd", Window{Offset: 50, Short: ShortTail}, 3, 0, 1, 3, false, false},
		{"tail policy, empty text", Window{Offset: 50, Short: ShortTail}, 10, 10, 0, 0, true, false},
		{"start past end", Window{Offset: 0}, 10, 11, 0, 0, false, true},
		{"negative offset", Window{Offset: -1}, 10, 0, 0, 0, false, true},
		{"bad policy", Window{Offset: 50, Short: "x"}, 10, 0, 0, 0, false, true},
	}
	for _, tt := range tests {
		lo, hi, err := tt.w.Range(tt.T, tt.start)
		switch {
		case tt.wantTooShort:
			if !errors.Is(err, ErrTooShort) {
				t.Errorf("%s: err %v, want ErrTooShort", tt.name, err)
			}
		case tt.wantOtherError:
			if err == nil || errors.Is(err, ErrTooShort) {
				t.Errorf("%s: err %v, want another error", tt.name, err)
			}
		case err != nil || lo != tt.lo || hi != tt.hi:
			t.Errorf("%s: got [%d, %d) %v, want [%d, %d)", tt.name, lo, hi, err, tt.lo, tt.hi)
		}
	}
}

func TestStoryMeans(t *testing.T) {
	// Two layers, d=2, T=4; text starts at 1, offset 1 → rows 2 and 3.
	layers := [][]float32{
		{100, 100, 9, 9, 1, 2, 3, 4},
		{0, 0, 0, 0, 3, 4, 3, 4},
	}
	means, n, err := StoryMeans(layers, 2, 1, Window{Offset: 1})
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	want := [][]float32{{2, 3}, {3, 4}}
	for l := range want {
		if !slices.Equal(means[l], want[l]) {
			t.Errorf("layer %d: got %v, want %v", l, means[l], want[l])
		}
	}
	if _, s2 := MeanRows(make([]float32, 2), layers[1], 2, 2, 4); s2 != 50 {
		t.Errorf("norm² sum %v, want 50", s2)
	}
	if _, _, err := StoryMeans([][]float32{{1, 2, 3}}, 2, 0, Window{}); err == nil {
		t.Error("ragged rows accepted")
	}
	if _, _, err := StoryMeans(layers, 2, 3, Window{Offset: 1}); !errors.Is(err, ErrTooShort) {
		t.Errorf("short story: %v", err)
	}
}

// runSynth pushes stories and neutral texts of a synthetic model through the
// math and returns the accumulator and neutral moments.
func runSynth(s *synth, perEmotion, neutralTexts int, order func(n int) []int) (*Accumulator, []*Moments) {
	layers := make([]int, s.layers)
	for l := range layers {
		layers[l] = l
	}
	names := make([]string, s.emotions)
	for e := range names {
		names[e] = string(rune('a' + e))
	}
	acc := NewAccumulator(names, layers, s.d)
	mom := make([]*Moments, s.layers)
	for l := range mom {
		mom[l] = NewMoments(s.d)
	}
	w := Window{Offset: 10}
	for i := 0; i < neutralTexts; i++ {
		rows := s.text(-1, 40, 2)
		for l := range rows {
			lo, hi, _ := w.Range(40, 2)
			mom[l].AddRows(rows[l], lo, hi)
		}
	}
	type item struct {
		e     int
		means [][]float32
	}
	var items []item
	for e := 0; e < s.emotions; e++ {
		for i := 0; i < perEmotion; i++ {
			prefix := 1 + s.rng.IntN(5)
			T := prefix + 10 + 20 + s.rng.IntN(30)
			m, _, err := StoryMeans(s.text(e, T, prefix), s.d, prefix, w)
			if err != nil {
				panic(err)
			}
			items = append(items, item{e, m})
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	if order != nil {
		idx = order(len(items))
	}
	for _, i := range idx {
		if err := acc.Add(items[i].e, items[i].means); err != nil {
			panic(err)
		}
	}
	return acc, mom
}

func TestPlantedDirectionsRecovered(t *testing.T) {
	s := newSynth(1, 48, 2, 6)
	acc, mom := runSynth(s, 80, 100, nil)
	v, err := Build(acc, mom, Denoise{Fraction: DefaultVarianceFraction})
	if err != nil {
		t.Fatal(err)
	}
	for l := 0; l < s.layers; l++ {
		want := s.centredPlanted(l)
		for e := 0; e < s.emotions; e++ {
			if c := cosine(v.Vector(l, e, false), want[e]); !(c >= 0.99) {
				t.Errorf("layer %d emotion %d: raw cosine %.4f, want ≥ 0.99", l, e, c)
			}
			if c := cosine(v.Vector(l, e, true), want[e]); !(c >= 0.99) {
				t.Errorf("layer %d emotion %d: denoised cosine %.4f, want ≥ 0.99", l, e, c)
			}
		}
		// The removed PCs are the nuisance directions (variances 100 and 64
		// of a total ≈ 100+64+36+48 explain ≥ 50% with two components).
		pc := v.PCs[l]
		if len(pc.Components) != 2 {
			t.Fatalf("layer %d: %d PCs removed, want 2", l, len(pc.Components))
		}
		for k, c := range pc.Components {
			if a := math.Abs(dot(c, s.nuisance[l][k])); !(a >= 0.98) {
				t.Errorf("layer %d: PC %d · nuisance %d = %.4f, want ≈ 1", l, k, k, a)
			}
		}
	}
}

func TestDenoisingRemovesNuisanceFromVectors(t *testing.T) {
	// Plant emotions that also move along the top nuisance direction: the raw
	// vectors carry it, the denoised vectors must not.
	s := newSynth(2, 32, 1, 5)
	for e := range s.planted[0] {
		add(s.planted[0][e], s.nuisance[0][0], float64(e)-2)
		unit(s.planted[0][e])
	}
	acc, mom := runSynth(s, 40, 40, nil)
	v, err := Build(acc, mom, Denoise{Fraction: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	pc := v.PCs[0]
	for e := 0; e < s.emotions; e++ {
		raw, den := v.Vector(0, e, false), v.Vector(0, e, true)
		if e != 2 && !(math.Abs(cosine(raw, s.nuisance[0][0])) >= 0.3) {
			t.Errorf("emotion %d: raw vector barely along the nuisance (%.3f); test is not testing", e, cosine(raw, s.nuisance[0][0]))
		}
		for k, c := range pc.Components {
			if p := math.Abs(dot(den, c)); !(p <= 1e-9*math.Sqrt(dot(raw, raw))) {
				t.Errorf("emotion %d: denoised · PC %d = %g, want 0", e, k, p)
			}
		}
		// Projection is idempotent and leaves the orthogonal part alone.
		again := slices.Clone(den)
		pc.ProjectOut(again)
		for j := range den {
			if !(math.Abs(again[j]-den[j]) <= 1e-12) {
				t.Fatalf("projection not idempotent")
			}
		}
		diff := slices.Clone(raw)
		sub(diff, den, 1)
		for _, c := range pc.Components {
			sub(diff, c, dot(raw, c))
		}
		if !(math.Sqrt(dot(diff, diff)) <= 1e-9) {
			t.Errorf("emotion %d: raw − denoised is not the PC part", e)
		}
	}
}

func TestCentering(t *testing.T) {
	s := newSynth(3, 16, 2, 4)
	acc, _ := runSynth(s, 3, 0, nil)
	// Unequal counts must not weigh the centre.
	extra, _, _ := StoryMeans(s.text(0, 50, 0), s.d, 0, Window{Offset: 10})
	acc.Add(0, extra)
	v, err := Build(acc, nil, Denoise{})
	if err != nil {
		t.Fatal(err)
	}
	for l := range v.Layers {
		sum := make([]float64, v.D)
		for e := range v.Emotions {
			add(sum, v.Vector(l, e, false), 1)
			if !slices.Equal(v.Vector(l, e, false), v.Vector(l, e, true)) {
				t.Error("denoising off but denoised differs from raw")
			}
		}
		for j, x := range sum {
			if !(math.Abs(x) <= 1e-9) {
				t.Fatalf("layer %d: Σ raw vectors [%d] = %g, want 0", l, j, x)
			}
		}
		// center = unweighted mean of emotion means.
		want := make([]float64, v.D)
		for e := range v.Emotions {
			add(want, acc.Mean(e, l), 1/float64(len(v.Emotions)))
		}
		for j := range want {
			if !(math.Abs(want[j]-v.Center[l][j]) <= 1e-9) {
				t.Fatalf("layer %d: centre differs from the unweighted mean", l)
			}
		}
		if v.PCs[l] != nil {
			t.Error("PCs with denoising off")
		}
	}
}

func TestBuildErrors(t *testing.T) {
	acc := NewAccumulator([]string{"happy", "sad", "calm"}, []int{0}, 2)
	acc.Add(0, [][]float32{{1, 2}})
	if _, err := Build(acc, nil, Denoise{}); err == nil || err.Error() != "extract: no training stories for 2 emotion(s): sad, calm" {
		t.Errorf("got %v", err)
	}
	if err := acc.Add(3, [][]float32{{1, 2}}); err == nil {
		t.Error("bad emotion index accepted")
	}
	if err := acc.Add(0, [][]float32{{1, 2, 3}}); err == nil {
		t.Error("bad width accepted")
	}
	if err := acc.Add(0, [][]float32{{1, 2}, {1, 2}}); err == nil {
		t.Error("bad layer count accepted")
	}
}

func TestAccumulatorOrderIndependentAndMergeable(t *testing.T) {
	s := newSynth(4, 24, 2, 5)
	whole, _ := runSynth(s, 12, 0, nil)
	s = newSynth(4, 24, 2, 5) // same data again, reversed order
	rev, _ := runSynth(s, 12, 0, func(n int) []int {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = n - 1 - i
		}
		return idx
	})
	assertAccEqual(t, "reversed", whole, rev)

	// Two halves (odd/even items), merged, equal the whole.
	var half [2]*Accumulator
	for h := 0; h < 2; h++ {
		s = newSynth(4, 24, 2, 5)
		half[h], _ = runSynth(s, 12, 0, func(n int) []int {
			var idx []int
			for i := h; i < n; i += 2 {
				idx = append(idx, i)
			}
			return idx
		})
	}
	merged := half[0].Clone()
	if err := merged.Merge(half[1]); err != nil {
		t.Fatal(err)
	}
	assertAccEqual(t, "merged halves", whole, merged)
	if err := merged.Merge(NewAccumulator([]string{"x"}, []int{0, 1}, 24)); err == nil {
		t.Error("merging incompatible accumulators: no error")
	}
}

func assertAccEqual(t *testing.T, name string, a, b *Accumulator) {
	t.Helper()
	if !slices.Equal(a.Count, b.Count) {
		t.Fatalf("%s: counts %v vs %v", name, a.Count, b.Count)
	}
	for e := range a.Sum {
		for j := range a.Sum[e] {
			if d := math.Abs(a.Sum[e][j] - b.Sum[e][j]); !(d <= 1e-9*(1+math.Abs(a.Sum[e][j]))) {
				t.Fatalf("%s: sum[%d][%d] %v vs %v", name, e, j, a.Sum[e][j], b.Sum[e][j])
			}
		}
	}
}

func TestMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	d, T := 7, 600
	rows := make([]float32, T*d)
	for i := range rows {
		rows[i] = float32(rng.NormFloat64()*float64(1+i%d) + 3)
	}
	whole := NewMoments(d)
	whole.AddRows(rows, 0, T)
	a, b := NewMoments(d), NewMoments(d)
	a.AddRows(rows, 0, 123)
	b.AddRows(rows, 123, T)
	a.Merge(b)

	// Two-pass reference covariance.
	mu := make([]float64, d)
	for t := 0; t < T; t++ {
		for j := 0; j < d; j++ {
			mu[j] += float64(rows[t*d+j]) / float64(T)
		}
	}
	ref := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			var c float64
			for t := 0; t < T; t++ {
				c += (float64(rows[t*d+i]) - mu[i]) * (float64(rows[t*d+j]) - mu[j])
			}
			ref.SetSym(i, j, c/float64(T))
		}
	}
	for _, m := range []*Moments{whole, a} {
		if m.N != int64(T) {
			t.Fatalf("N = %d", m.N)
		}
		c := m.Covariance()
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				if !(math.Abs(c.At(i, j)-ref.At(i, j)) <= 1e-9*(1+math.Abs(ref.At(i, j)))) {
					t.Fatalf("cov[%d][%d] = %v, want %v", i, j, c.At(i, j), ref.At(i, j))
				}
			}
		}
	}
	// Projection statistics match a direct computation.
	u := []float64{1, -2, 0, 0.5, 0, 0, 3}
	var sum, sq float64
	for t := 0; t < T; t++ {
		var p float64
		for j := range u {
			p += u[j] * float64(rows[t*d+j])
		}
		sum += p
		sq += p * p
	}
	wantMean := sum / float64(T)
	wantStd := math.Sqrt(sq/float64(T) - wantMean*wantMean)
	gotMean, gotStd := whole.ProjectionStats(u)
	if !(math.Abs(gotMean-wantMean) <= 1e-9) || !(math.Abs(gotStd-wantStd) <= 1e-9) {
		t.Errorf("projection stats %v %v, want %v %v", gotMean, gotStd, wantMean, wantStd)
	}
	if err := whole.Merge(NewMoments(3)); err == nil {
		t.Error("merging moments of another width: no error")
	}
}

func TestPCAChoosesFewestComponents(t *testing.T) {
	// Independent coordinates with variances 9, 4, 1, 1, 1 (total 16).
	rng := rand.New(rand.NewPCG(6, 6))
	d, T := 5, 20000
	sds := []float64{3, 2, 1, 1, 1}
	m := NewMoments(d)
	rows := make([]float32, T*d)
	for i := range rows {
		rows[i] = float32(rng.NormFloat64() * sds[i%d])
	}
	m.AddRows(rows, 0, T)
	tests := []struct {
		fraction float64
		maxK     int
		wantK    int
	}{
		{0, 0, 0}, {0.5, 0, 1}, {0.57, 0, 2}, {0.8, 0, 2}, {0.85, 0, 3}, {1, 0, 5}, {0.99, 1, 1},
	}
	for _, tt := range tests {
		p, err := m.PCA(tt.fraction, tt.maxK)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Components) != tt.wantK {
			t.Errorf("fraction %.2f maxK %d: %d components, want %d (explained %.3f)", tt.fraction, tt.maxK, len(p.Components), tt.wantK, p.Explained)
		}
		if tt.maxK == 0 && tt.wantK > 0 && !(p.Explained >= tt.fraction-1e-12) {
			t.Errorf("fraction %.2f: explained %.3f", tt.fraction, p.Explained)
		}
		if len(p.Eigenvalues) != d || p.Eigenvalues[0] < p.Eigenvalues[1] {
			t.Errorf("eigenvalues %v", p.Eigenvalues)
		}
	}
	if p, _ := m.PCA(0.5, 0); !(math.Abs(math.Abs(p.Components[0][0])-1) <= 0.01) {
		t.Errorf("first PC %v, want ±e0", p.Components[0])
	}
	if _, err := NewMoments(3).PCA(0.5, 0); err == nil {
		t.Error("PCA of empty moments: no error")
	}
}

func TestNormStats(t *testing.T) {
	var s NormStats
	s.Add(3+4, 9+16, 2)
	var o NormStats
	o.Add(5, 25, 1)
	s.Merge(o)
	if s.Mean() != 4 || !(math.Abs(s.RMS()-math.Sqrt(50.0/3)) <= 1e-12) || s.N != 3 {
		t.Errorf("%+v: mean %v rms %v", s, s.Mean(), s.RMS())
	}
	if (NormStats{}).Mean() != 0 {
		t.Error("empty mean")
	}
}
