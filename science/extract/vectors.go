package extract

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/science/vecpack"
)

// DefaultVarianceFraction is the paper's denoising target: project out the
// leading neutral PCs that explain half of the neutral variance.
const DefaultVarianceFraction = 0.5

// Denoise configures the neutral-PC projection.
type Denoise struct {
	Fraction      float64 // share of neutral variance to remove; 0 = off
	MaxComponents int     // cap on removed PCs; 0 = none
}

// Vectors are the emotion vectors of every extracted layer, unnormalised.
type Vectors struct {
	Emotions []string
	Layers   []int
	D        int
	Counts   []int
	Center   [][]float64 // [layerIdx][d], the mean over emotions that was subtracted
	Raw      [][]float64 // [layerIdx][e*d + j], centred emotion means
	Denoised [][]float64 // [layerIdx][e*d + j], Raw with PCs[layerIdx] projected out
	PCs      []*PCA      // [layerIdx]; nil where no neutral moments, or denoising is off
}

// Build computes the vectors from the story sums and, when denoising is on,
// the neutral moments (parallel to acc.Layers; nil entries skip denoising at
// that layer). Every emotion needs at least one story.
func Build(acc *Accumulator, neutral []*Moments, dn Denoise) (*Vectors, error) {
	var missing []string
	for e, c := range acc.Count {
		if c == 0 {
			missing = append(missing, acc.Emotions[e])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("extract: no training stories for %d emotion(s): %s", len(missing), strings.Join(missing, ", "))
	}
	if neutral != nil && len(neutral) != len(acc.Layers) {
		return nil, fmt.Errorf("extract: neutral moments for %d layers, want %d", len(neutral), len(acc.Layers))
	}
	n, d := len(acc.Emotions), acc.D
	v := &Vectors{Emotions: slices.Clone(acc.Emotions), Layers: slices.Clone(acc.Layers), D: d, Counts: slices.Clone(acc.Count),
		Center: make([][]float64, len(acc.Layers)), Raw: make([][]float64, len(acc.Layers)),
		Denoised: make([][]float64, len(acc.Layers)), PCs: make([]*PCA, len(acc.Layers))}
	for l := range acc.Layers {
		raw := make([]float64, n*d)
		center := make([]float64, d)
		for e := 0; e < n; e++ {
			copy(raw[e*d:], acc.Mean(e, l))
			for j := 0; j < d; j++ {
				center[j] += raw[e*d+j]
			}
		}
		for j := range center {
			center[j] /= float64(n)
		}
		for e := 0; e < n; e++ {
			for j := 0; j < d; j++ {
				raw[e*d+j] -= center[j]
			}
		}
		v.Center[l], v.Raw[l] = center, raw
		den := slices.Clone(raw)
		if dn.Fraction > 0 && neutral != nil && neutral[l] != nil {
			p, err := neutral[l].PCA(dn.Fraction, dn.MaxComponents)
			if err != nil {
				return nil, fmt.Errorf("extract: layer %d: %w", acc.Layers[l], err)
			}
			v.PCs[l] = p
			for e := 0; e < n; e++ {
				p.ProjectOut(den[e*d : (e+1)*d])
			}
		}
		v.Denoised[l] = den
	}
	return v, nil
}

// Vector returns emotion e's vector at layer index l (shared).
func (v *Vectors) Vector(l, e int, denoised bool) []float64 {
	m := v.Raw[l]
	if denoised {
		m = v.Denoised[l]
	}
	return m[e*v.D : (e+1)*v.D]
}

// Unit returns a unit-norm copy of emotion e's vector at layer index l.
func (v *Vectors) Unit(l, e int, denoised bool) []float64 {
	u := slices.Clone(v.Vector(l, e, denoised))
	var s float64
	for _, x := range u {
		s += x * x
	}
	if s > 0 {
		inv := 1 / math.Sqrt(s)
		for j := range u {
			u[j] *= inv
		}
	}
	return u
}

// PackOptions adds what Vectors do not know to a vector pack.
type PackOptions struct {
	Model       vecpack.ModelInfo
	Window      Window
	Denoise     Denoise
	Acc         *Accumulator // for norms and skipped counts
	Neutral     []*Moments   // for neutral projection statistics (may be nil)
	NeutralText int          // neutral texts read
	HeldOut     *vecpack.HeldOut
	Params      map[string]string
	Created     string
}

// Pack converts the vectors to a vector pack, computing the neutral
// projection statistics on unit vectors from the neutral moments.
func (v *Vectors) Pack(o PackOptions) (*vecpack.Pack, error) {
	m := vecpack.NewMeta(o.Model, v.Emotions, v.Layers)
	if o.Model.DModel != v.D {
		return nil, fmt.Errorf("extract: model width %d, vectors of width %d", o.Model.DModel, v.D)
	}
	m.TokenOffset = o.Window.Offset
	m.ShortPolicy = string(o.Window.Short)
	if m.ShortPolicy == "" {
		m.ShortPolicy = string(ShortSkip)
	}
	m.Counts = slices.Clone(v.Counts)
	m.VarianceFraction = o.Denoise.Fraction
	m.NeutralTexts = o.NeutralText
	m.Params = o.Params
	m.Created = o.Created
	if o.Acc != nil {
		m.SkippedStories = o.Acc.Skipped
	}
	if o.HeldOut != nil {
		m.HeldOutCounts = make([]int, len(v.Emotions))
		for _, e := range o.HeldOut.Labels {
			m.HeldOutCounts[e]++
		}
	}
	p := &vecpack.Pack{Meta: m, Layers: make([]vecpack.Layer, len(v.Layers))}
	n := len(v.Emotions)
	for l, layer := range v.Layers {
		info := vecpack.LayerInfo{Layer: layer}
		if o.Acc != nil {
			info.MeanResidNorm, info.RMSResidNorm = o.Acc.Norms[l].Mean(), o.Acc.Norms[l].RMS()
		}
		if pc := v.PCs[l]; pc != nil {
			info.PCsRemoved, info.VarianceExplained = len(pc.Components), pc.Explained
		}
		L := vecpack.Layer{Raw: f32(v.Raw[l]), Denoised: f32(v.Denoised[l]), Center: f32(v.Center[l])}
		if o.Neutral != nil && o.Neutral[l] != nil && o.Neutral[l].N > 0 {
			nm := o.Neutral[l]
			info.NeutralTokens = nm.N
			L.NeutralMeanRaw, L.NeutralStdRaw = make([]float32, n), make([]float32, n)
			L.NeutralMeanDenoised, L.NeutralStdDenoised = make([]float32, n), make([]float32, n)
			for e := 0; e < n; e++ {
				mu, sd := nm.ProjectionStats(v.Unit(l, e, false))
				L.NeutralMeanRaw[e], L.NeutralStdRaw[e] = float32(mu), float32(sd)
				mu, sd = nm.ProjectionStats(v.Unit(l, e, true))
				L.NeutralMeanDenoised[e], L.NeutralStdDenoised[e] = float32(mu), float32(sd)
			}
		}
		m.LayerInfo = append(m.LayerInfo, info)
		p.Layers[l] = L
	}
	p.Meta.LayerInfo = m.LayerInfo
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}

func f32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
