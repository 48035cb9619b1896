// Package testpack builds synthetic vector packs for tests: random emotion
// vectors at every layer, with a chosen neutral baseline and residual norm,
// so that readout, steering and server tests need no extraction run.
package testpack

import (
	"math/rand/v2"

	"github.com/limbic-dev/limbic/science/vecpack"
)

// Options describe a synthetic pack. Zero values: seed 0, best layer -1
// (none), mean residual norm 1 at every layer, baseline mean 0, std 1.
type Options struct {
	Emotions  []string
	D, Layers int
	Seed      uint64
	ModelID   string
	Hash      string
	BestLayer int
	// Norm gives the mean residual norm of layer l (nil: 1).
	Norm func(l int) float64
	// The neutral projection baseline of every emotion; Std 0 means 1.
	BaselineMean, BaselineStd float32
	NoBaseline                bool
}

// Random returns a pack of N(0, 1) vectors (raw = denoised) at layers
// 0..Layers-1 that passes vecpack's checks.
func Random(o Options) *vecpack.Pack {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x7465737470)) // "testp"
	ls := make([]int, o.Layers)
	for i := range ls {
		ls[i] = i
	}
	n := len(o.Emotions)
	p := &vecpack.Pack{Meta: vecpack.NewMeta(vecpack.ModelInfo{ID: o.ModelID, Hash: o.Hash, DModel: o.D, NLayers: o.Layers}, o.Emotions, ls)}
	p.Meta.Counts = make([]int, n)
	p.Meta.BestLayer = o.BestLayer
	std := o.BaselineStd
	if std == 0 {
		std = 1
	}
	for l := range ls {
		norm := 1.0
		if o.Norm != nil {
			norm = o.Norm(l)
		}
		p.Meta.LayerInfo = append(p.Meta.LayerInfo, vecpack.LayerInfo{Layer: l, MeanResidNorm: norm})
		v := make([]float32, n*o.D)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		layer := vecpack.Layer{Raw: v, Denoised: v, Center: make([]float32, o.D)}
		if !o.NoBaseline {
			mean, sd := make([]float32, n), make([]float32, n)
			for i := range mean {
				mean[i], sd[i] = o.BaselineMean, std
			}
			layer.NeutralMeanRaw, layer.NeutralStdRaw, layer.NeutralMeanDenoised, layer.NeutralStdDenoised = mean, sd, mean, sd
		}
		p.Layers = append(p.Layers, layer)
	}
	return p
}

// Constant returns a per-layer norm function giving v everywhere.
func Constant(v float64) func(int) float64 { return func(int) float64 { return v } }
