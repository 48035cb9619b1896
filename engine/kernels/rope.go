package kernels

import "math"

// Rope holds the rotation tables of rotary position embeddings for one head
// size: cos and sin of pos·freq[i] for every position up to MaxPos.
type Rope struct {
	HeadDim, RotDim int  // RotDim ≤ HeadDim dimensions are rotated (partial rotary)
	Interleaved     bool // pairs (0,1),(2,3),… (llama2.c, GGUF llama); else halves (i, i+RotDim/2) as in Hugging Face
	MaxPos          int
	cos, sin        []float32 // [MaxPos, RotDim/2]
}

// NewRope builds tables for the inverse frequencies invFreq (len RotDim/2).
func NewRope(headDim int, invFreq []float64, interleaved bool, maxPos int, attnScale float64) *Rope {
	half := len(invFreq)
	r := &Rope{HeadDim: headDim, RotDim: 2 * half, Interleaved: interleaved, MaxPos: maxPos,
		cos: make([]float32, maxPos*half), sin: make([]float32, maxPos*half)}
	if attnScale == 0 {
		attnScale = 1
	}
	for p := 0; p < maxPos; p++ {
		for i, f := range invFreq {
			a := float64(p) * f
			r.cos[p*half+i] = float32(math.Cos(a) * attnScale)
			r.sin[p*half+i] = float32(math.Sin(a) * attnScale)
		}
	}
	return r
}

// InvFreq returns the standard inverse frequencies theta^(-2i/rotDim).
func InvFreq(rotDim int, theta float64) []float64 {
	out := make([]float64, rotDim/2)
	for i := range out {
		out[i] = 1 / math.Pow(theta, float64(2*i)/float64(rotDim))
	}
	return out
}

// Apply rotates every head of x (nHeads·HeadDim values, one position) in place.
func (r *Rope) Apply(x []float32, nHeads, pos int) {
	half := r.RotDim / 2
	c := r.cos[pos*half : (pos+1)*half]
	s := r.sin[pos*half : (pos+1)*half]
	for h := 0; h < nHeads; h++ {
		v := x[h*r.HeadDim : h*r.HeadDim+r.RotDim]
		if r.Interleaved {
			for i := 0; i < half; i++ {
				a, b := v[2*i], v[2*i+1]
				v[2*i] = a*c[i] - b*s[i]
				v[2*i+1] = a*s[i] + b*c[i]
			}
		} else {
			for i := 0; i < half; i++ {
				a, b := v[i], v[i+half]
				v[i] = a*c[i] - b*s[i]
				v[i+half] = a*s[i] + b*c[i]
			}
		}
	}
}
