package steer

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Options for Hooks.
type Options struct {
	Kind      vecpack.Kind // denoised (default) or raw vectors
	NLayers   int          // the model's layer count
	Dim       int          // the model's width
	PromptLen int          // prompt tokens, for the prompt/generated spans
}

// Added is one vector a spec adds, for reports.
type Added struct {
	Spec  string  `json:"spec"`
	Layer int     `json:"layer"`
	Norm  float64 `json:"norm"` // ‖added vector‖
}

// Layers resolves a spec's layer list (hook.ParseLayerList) for a model
// with nLayers blocks; "" means def.
func Layers(sel string, nLayers, def int) ([]int, error) {
	if sel == "" {
		return []int{def}, nil
	}
	return hook.ParseLayerList(sel, nLayers)
}

// Hooks builds the hook set that applies specs, with vectors from pack (may
// be nil when every spec is Raw). It adds to hs when hs is not nil.
func Hooks(hs *hook.Set, specs []Spec, pack *vecpack.Pack, o Options) (*hook.Set, []Added, error) {
	if hs == nil {
		hs = &hook.Set{}
	}
	var added []Added
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, nil, fmt.Errorf("steer %s: %w", s, err)
		}
		if s.Raw != nil {
			layers := make([]int, 0, len(s.Raw))
			for l := range s.Raw {
				layers = append(layers, l)
			}
			slices.Sort(layers)
			for _, l := range layers {
				v := s.Raw[l]
				if l < 0 || l >= o.NLayers {
					return nil, nil, fmt.Errorf("steer %s: layer %d outside the model's %d layers", s, l, o.NLayers)
				}
				if len(v) != o.Dim {
					return nil, nil, fmt.Errorf("steer %s: layer %d vector has %d values, the model's width is %d", s, l, len(v), o.Dim)
				}
				if s.Layers != "" {
					ls, err := Layers(s.Layers, o.NLayers, l)
					if err != nil {
						return nil, nil, fmt.Errorf("steer %s: %w", s, err)
					}
					if !slices.Contains(ls, l) {
						continue
					}
				}
				vec := make([]float32, len(v))
				var n2 float64
				for i, x := range v {
					vec[i] = float32(s.Strength) * x
					n2 += float64(vec[i]) * float64(vec[i])
				}
				hs.Add(hook.Block(l, hook.ResidPost), hook.AddVector(vec, s.Span.Spans(o.PromptLen)))
				added = append(added, Added{Spec: s.String(), Layer: l, Norm: math.Sqrt(n2)})
			}
			continue
		}
		vecs, err := Vectors(s, pack, o)
		if err != nil {
			return nil, nil, err
		}
		for _, lv := range vecs {
			hs.Add(hook.Block(lv.Layer, hook.ResidPost), hook.AddVector(lv.Vec, s.Span.Spans(o.PromptLen)))
			added = append(added, Added{Spec: s.String(), Layer: lv.Layer, Norm: lv.Norm})
		}
	}
	return hs, added, nil
}

// ParseAll parses several CLI specs.
func ParseAll(specs []string) ([]Spec, error) {
	var out []Spec
	for _, s := range specs {
		for _, part := range splitSpecs(s) {
			sp, err := Parse(part)
			if err != nil {
				return nil, err
			}
			out = append(out, sp)
		}
	}
	return out, nil
}

// splitSpecs allows "a=0.1;b=-0.1" in one flag value.
func splitSpecs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// LayerVector is the vector a spec adds at one layer.
type LayerVector struct {
	Layer int
	Vec   []float32
	Norm  float64 // ‖Vec‖ = |strength| × mean residual norm
}

// Vectors resolves an emotion spec against a pack: for each of its layers,
// strength × mean‖h_L‖ × v̂_L.
func Vectors(s Spec, pack *vecpack.Pack, o Options) ([]LayerVector, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("steer %s: %w", s, err)
	}
	if pack == nil {
		return nil, fmt.Errorf("steer %s: no vector pack (give --vectors)", s)
	}
	if pack.D() != o.Dim {
		return nil, fmt.Errorf("steer %s: the vector pack has width %d, the model %d", s, pack.D(), o.Dim)
	}
	def := pack.Meta.BestLayer
	if def < 0 {
		def = pack.Meta.Layers[len(pack.Meta.Layers)*2/3]
	}
	ls, err := Layers(s.Layers, o.NLayers, def)
	if err != nil {
		return nil, fmt.Errorf("steer %s: %w", s, err)
	}
	var out []LayerVector
	for _, l := range ls {
		unit, err := pack.Unit(l, s.Emotion, o.Kind)
		if err != nil {
			return nil, fmt.Errorf("steer %s: %w", s, err)
		}
		norm, err := pack.MeanResidNorm(l)
		if err != nil {
			return nil, fmt.Errorf("steer %s: %w", s, err)
		}
		scale := float32(s.Strength * norm)
		vec := make([]float32, len(unit))
		for i, x := range unit {
			vec[i] = scale * x
		}
		out = append(out, LayerVector{Layer: l, Vec: vec, Norm: math.Abs(float64(scale))})
	}
	return out, nil
}
