package extract

import (
	"math"
	"math/rand/v2"
)

// synth plants one direction per emotion in token activations, on top of a
// large common offset, a few high-variance nuisance directions shared with
// the neutral texts, and isotropic noise.
type synth struct {
	d, layers, emotions int
	rng                 *rand.Rand
	offset              [][]float64   // [layer][d]
	planted             [][][]float64 // [layer][emotion][d], unit
	nuisance            [][][]float64 // [layer][k][d], orthonormal
	sigmas              []float64     // nuisance standard deviations
	amp                 float64       // planted amplitude
	noise               float64
}

func newSynth(seed uint64, d, layers, emotions int) *synth {
	s := &synth{d: d, layers: layers, emotions: emotions, rng: rand.New(rand.NewPCG(seed, 7)),
		sigmas: []float64{10, 8, 6}, amp: 5, noise: 1}
	for l := 0; l < layers; l++ {
		off := s.gauss(d, 20)
		s.offset = append(s.offset, off)
		// Nuisance directions: Gram-Schmidt on random vectors.
		var nu [][]float64
		for range s.sigmas {
			v := s.gauss(d, 1)
			for _, w := range nu {
				sub(v, w, dot(v, w))
			}
			unit(v)
			nu = append(nu, v)
		}
		s.nuisance = append(s.nuisance, nu)
		var pl [][]float64
		for e := 0; e < emotions; e++ {
			v := s.gauss(d, 1)
			for _, w := range nu { // keep planted directions out of the nuisance subspace
				sub(v, w, dot(v, w))
			}
			unit(v)
			pl = append(pl, v)
		}
		s.planted = append(s.planted, pl)
	}
	return s
}

func (s *synth) gauss(n int, sd float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = s.rng.NormFloat64() * sd
	}
	return v
}

// text returns per-layer rows [T, d] for a text of T tokens; emotion -1 is
// neutral. The emotion signal is present only from token start on.
func (s *synth) text(emotion, T, start int) [][]float32 {
	out := make([][]float32, s.layers)
	for l := 0; l < s.layers; l++ {
		rows := make([]float32, T*s.d)
		for t := 0; t < T; t++ {
			h := append([]float64(nil), s.offset[l]...)
			for k, w := range s.nuisance[l] {
				add(h, w, s.rng.NormFloat64()*s.sigmas[k])
			}
			for j := range h {
				h[j] += s.rng.NormFloat64() * s.noise
			}
			if emotion >= 0 && t >= start {
				add(h, s.planted[l][emotion], s.amp)
			}
			if t == 0 { // an attention-sink-like first token
				for j := range h {
					h[j] *= 30
				}
			}
			for j, x := range h {
				rows[t*s.d+j] = float32(x)
			}
		}
		out[l] = rows
	}
	return out
}

// centredPlanted returns the planted directions minus their mean over
// emotions, what the raw vectors should recover (up to scale).
func (s *synth) centredPlanted(l int) [][]float64 {
	mean := make([]float64, s.d)
	for _, v := range s.planted[l] {
		add(mean, v, 1/float64(s.emotions))
	}
	var out [][]float64
	for _, v := range s.planted[l] {
		c := append([]float64(nil), v...)
		sub(c, mean, 1)
		out = append(out, c)
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
func add(a, b []float64, k float64) {
	for i := range a {
		a[i] += k * b[i]
	}
}
func sub(a, b []float64, k float64) { add(a, b, -k) }
func unit(a []float64) {
	n := math.Sqrt(dot(a, a))
	for i := range a {
		a[i] /= n
	}
}
func cosine(a, b []float64) float64 { return dot(a, b) / math.Sqrt(dot(a, a)*dot(b, b)) }
