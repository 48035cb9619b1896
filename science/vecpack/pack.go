package vecpack

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Format and Version identify the metadata schema.
const (
	Format  = "limbic.emotion-vectors"
	Version = 1
	// MetaKey is the __metadata__ key holding the JSON metadata.
	MetaKey = "limbic"
	// Hook is the hook point the vectors are read at.
	Hook = "hook_resid_post"
)

// ModelInfo identifies a model.
type ModelInfo struct {
	ID      string `json:"id"`   // a name, e.g. "stories15M"
	Hash    string `json:"hash"` // "sha256:" + hex of the weights file(s)
	DModel  int    `json:"d_model"`
	NLayers int    `json:"n_layers"`
}

// LayerInfo describes one extracted layer.
type LayerInfo struct {
	Layer             int     `json:"layer"`
	MeanResidNorm     float64 `json:"mean_resid_norm"` // mean ‖h‖ over the averaged tokens of all texts read
	RMSResidNorm      float64 `json:"rms_resid_norm"`
	PCsRemoved        int     `json:"pcs_removed"`
	VarianceExplained float64 `json:"variance_explained"` // share of neutral variance in the removed PCs
	NeutralTokens     int64   `json:"neutral_tokens"`     // 0 when the layer has no neutral statistics
}

// Meta is the pack's metadata.
type Meta struct {
	Format           string            `json:"format"`
	Version          int               `json:"version"`
	Model            ModelInfo         `json:"model"`
	Hook             string            `json:"hook"`
	Emotions         []string          `json:"emotions"`
	Layers           []int             `json:"layers"` // model layers, increasing
	TokenOffset      int               `json:"token_offset"`
	ShortPolicy      string            `json:"short_policy"`
	Counts           []int             `json:"counts"`                   // training stories per emotion
	HeldOutCounts    []int             `json:"heldout_counts,omitempty"` // held-out stories per emotion
	SkippedStories   int               `json:"skipped_stories"`          // too short for the window
	NeutralTexts     int               `json:"neutral_texts"`            // neutral texts averaged
	VarianceFraction float64           `json:"variance_fraction"`        // denoising target; 0 = off
	PCAUnit          string            `json:"pca_unit"`                 // "token"
	LayerInfo        []LayerInfo       `json:"layer_info"`               // parallel to Layers
	BestLayer        int               `json:"best_layer"`               // -1 when not validated
	Normalized       bool              `json:"normalized"`               // false: stored unnormalised
	Created          string            `json:"created,omitempty"`        // RFC 3339
	Params           map[string]string `json:"params,omitempty"`         // creation parameters
	Extra            map[string]any    `json:"extra,omitempty"`          // free-form additions
}

// Layer holds one layer's vectors and statistics; slices are row-major over
// emotions.
type Layer struct {
	Raw      []float32 // [n_emotions*d]
	Denoised []float32 // [n_emotions*d]
	Center   []float32 // [d]
	// Neutral projection statistics on unit vectors; nil when unknown.
	NeutralMeanRaw, NeutralStdRaw           []float32 // [n_emotions]
	NeutralMeanDenoised, NeutralStdDenoised []float32 // [n_emotions]
}

// Pack is a set of emotion vectors for one model.
type Pack struct {
	Meta   Meta
	Layers []Layer // parallel to Meta.Layers
}

// Kind selects raw or denoised vectors.
type Kind int

// The vector kinds.
const (
	Denoised Kind = iota
	Raw
)

func (k Kind) String() string {
	if k == Raw {
		return "raw"
	}
	return "denoised"
}

// ParseKind parses "raw" or "denoised".
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "raw":
		return Raw, nil
	case "denoised", "":
		return Denoised, nil
	}
	return 0, fmt.Errorf("unknown vector kind %q (want raw or denoised)", s)
}

// NewMeta returns metadata with the format fields set and no best layer.
func NewMeta(model ModelInfo, emotions []string, layers []int) Meta {
	return Meta{Format: Format, Version: Version, Model: model, Hook: Hook, Emotions: slices.Clone(emotions),
		Layers: slices.Clone(layers), BestLayer: -1, PCAUnit: "token"}
}

// D returns the vector width.
func (p *Pack) D() int { return p.Meta.Model.DModel }

// Check verifies the pack's internal consistency: format and version, sizes
// of every slice against the emotions, layers and width, increasing layers
// within the model, finite values.
func (p *Pack) Check() error {
	m := &p.Meta
	if m.Format != Format {
		return fmt.Errorf("vecpack: format %q, want %q", m.Format, Format)
	}
	if m.Version != Version {
		return fmt.Errorf("vecpack: version %d, this limbic reads version %d", m.Version, Version)
	}
	n, d := len(m.Emotions), m.Model.DModel
	if n == 0 || d <= 0 || len(m.Layers) == 0 {
		return fmt.Errorf("vecpack: empty pack (%d emotions, width %d, %d layers)", n, d, len(m.Layers))
	}
	seen := map[string]bool{}
	for _, e := range m.Emotions {
		if e == "" || seen[e] {
			return fmt.Errorf("vecpack: empty or repeated emotion %q", e)
		}
		seen[e] = true
	}
	for i, l := range m.Layers {
		if l < 0 || (m.Model.NLayers > 0 && l >= m.Model.NLayers) || (i > 0 && l <= m.Layers[i-1]) {
			return fmt.Errorf("vecpack: layers %v not increasing within [0, %d)", m.Layers, m.Model.NLayers)
		}
	}
	if len(m.Counts) != n || (m.HeldOutCounts != nil && len(m.HeldOutCounts) != n) {
		return fmt.Errorf("vecpack: counts for %d emotions, want %d", len(m.Counts), n)
	}
	if len(m.LayerInfo) != len(m.Layers) || len(p.Layers) != len(m.Layers) {
		return fmt.Errorf("vecpack: %d layer infos and %d layers of vectors for %d layers", len(m.LayerInfo), len(p.Layers), len(m.Layers))
	}
	if m.BestLayer != -1 && !slices.Contains(m.Layers, m.BestLayer) {
		return fmt.Errorf("vecpack: best layer %d is not an extracted layer", m.BestLayer)
	}
	for i, L := range p.Layers {
		l := m.Layers[i]
		if m.LayerInfo[i].Layer != l {
			return fmt.Errorf("vecpack: layer info %d is for layer %d, want %d", i, m.LayerInfo[i].Layer, l)
		}
		for _, c := range []struct {
			name string
			v    []float32
			want int
			opt  bool
		}{
			{"raw", L.Raw, n * d, false}, {"denoised", L.Denoised, n * d, false}, {"center", L.Center, d, false},
			{"neutral_mean.raw", L.NeutralMeanRaw, n, true}, {"neutral_std.raw", L.NeutralStdRaw, n, true},
			{"neutral_mean.denoised", L.NeutralMeanDenoised, n, true}, {"neutral_std.denoised", L.NeutralStdDenoised, n, true},
		} {
			if c.opt && c.v == nil {
				continue
			}
			if len(c.v) != c.want {
				return fmt.Errorf("vecpack: %s.%d has %d values, want %d", c.name, l, len(c.v), c.want)
			}
			for _, x := range c.v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return fmt.Errorf("vecpack: %s.%d holds a non-finite value", c.name, l)
				}
			}
		}
	}
	return nil
}

// CheckModel refuses a pack made for another model: a different weights hash
// (when both are known) or a different width.
func (p *Pack) CheckModel(m ModelInfo) error {
	pm := p.Meta.Model
	describe := func(x ModelInfo) string {
		id := x.ID
		if id == "" {
			id = "an unnamed model"
		}
		return fmt.Sprintf("%s (d=%d)", id, x.DModel)
	}
	if pm.DModel != m.DModel || (pm.Hash != "" && m.Hash != "" && pm.Hash != m.Hash) ||
		(pm.NLayers > 0 && m.NLayers > 0 && pm.NLayers != m.NLayers) {
		msg := fmt.Sprintf("vector pack was made for model %s, not %s", describe(pm), describe(m))
		if pm.DModel == m.DModel && pm.Hash != m.Hash {
			msg += fmt.Sprintf(": weights hash %s, not %s", short(pm.Hash), short(m.Hash))
		}
		return errors.New(msg)
	}
	return nil
}

func short(h string) string {
	if len(h) > 19 {
		return h[:19] + "…"
	}
	return h
}

// LayerIndex returns the position of model layer l in the pack.
func (p *Pack) LayerIndex(l int) (int, error) {
	if i := slices.Index(p.Meta.Layers, l); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("vecpack: layer %d was not extracted (layers %v)", l, p.Meta.Layers)
}

// EmotionIndex returns the row of an emotion.
func (p *Pack) EmotionIndex(name string) (int, error) {
	if i := slices.Index(p.Meta.Emotions, name); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("vecpack: emotion %q is not in this pack (%d emotions: %s)", name, len(p.Meta.Emotions), abbrev(p.Meta.Emotions))
}

func abbrev(s []string) string {
	if len(s) <= 8 {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:8], ", ") + ", …"
}

// Matrix returns the [n_emotions*d] vectors of layer l (shared, read-only).
func (p *Pack) Matrix(l int, k Kind) ([]float32, error) {
	i, err := p.LayerIndex(l)
	if err != nil {
		return nil, err
	}
	if k == Raw {
		return p.Layers[i].Raw, nil
	}
	return p.Layers[i].Denoised, nil
}

// Vector returns a copy of one emotion's vector at layer l, unnormalised.
func (p *Pack) Vector(l int, emotion string, k Kind) ([]float32, error) {
	m, err := p.Matrix(l, k)
	if err != nil {
		return nil, err
	}
	e, err := p.EmotionIndex(emotion)
	if err != nil {
		return nil, err
	}
	d := p.D()
	return slices.Clone(m[e*d : (e+1)*d]), nil
}

// Unit returns one emotion's unit vector at layer l (a zero vector stays zero).
func (p *Pack) Unit(l int, emotion string, k Kind) ([]float32, error) {
	v, err := p.Vector(l, emotion, k)
	if err != nil {
		return nil, err
	}
	Normalize(v)
	return v, nil
}

// MeanResidNorm returns the mean residual norm at layer l, the unit of
// steering strengths.
func (p *Pack) MeanResidNorm(l int) (float64, error) {
	i, err := p.LayerIndex(l)
	if err != nil {
		return 0, err
	}
	return p.Meta.LayerInfo[i].MeanResidNorm, nil
}

// MetaJSON returns the metadata as indented JSON.
func (p *Pack) MetaJSON() ([]byte, error) { return json.MarshalIndent(&p.Meta, "", "  ") }

// Normalize scales v to unit L2 norm in place (float64 accumulation); a zero
// vector is left as is. It returns the original norm.
func Normalize(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	n := math.Sqrt(s)
	if n == 0 {
		return 0
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return n
}
