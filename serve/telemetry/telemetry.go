package telemetry

import (
	"fmt"
	"slices"
	"sync"

	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
)

// Options configure a Monitor.
type Options struct {
	NLayers int            // the model's number of layers
	Dim     int            // the model's residual width
	Rules   []monitor.Rule // alert rules (nil: readout only)
}

// Monitor is what the sequences watched with one vector pack share. It is
// safe for concurrent use.
type Monitor struct {
	pack         *vecpack.Pack
	o            Options
	emoIndex     map[string]int
	defaultLayer int
	rules        *monitor.RuleSet
	ruleLayers   []int
	regulate     []regulateVecs

	mu      sync.Mutex
	readers map[int]*readout.Reader
}

// regulateVecs are a regulate rule's counter-steer vectors, by layer.
type regulateVecs struct {
	rule string
	vecs []steer.LayerVector
}

// DefaultLayer is the pack's default readout layer: its best layer, or the
// one two thirds down its layers.
func DefaultLayer(pack *vecpack.Pack) int {
	if pack.Meta.BestLayer >= 0 {
		return pack.Meta.BestLayer
	}
	return pack.Meta.Layers[len(pack.Meta.Layers)*2/3]
}

// New builds a monitor for pack. The rules are checked against it: their
// emotions and layers must exist, z-score rules need the pack's neutral
// baseline, and regulate steers are resolved to vectors.
func New(pack *vecpack.Pack, o Options) (*Monitor, error) {
	if pack == nil {
		return nil, fmt.Errorf("telemetry: no vector pack")
	}
	if pack.D() != o.Dim {
		return nil, fmt.Errorf("telemetry: the vector pack has width %d, the model %d", pack.D(), o.Dim)
	}
	if len(pack.Meta.Layers) == 0 {
		return nil, fmt.Errorf("telemetry: the vector pack has no layers")
	}
	m := &Monitor{pack: pack, o: o, defaultLayer: DefaultLayer(pack), readers: map[int]*readout.Reader{},
		emoIndex: make(map[string]int, len(pack.Meta.Emotions))}
	for i, e := range pack.Meta.Emotions {
		m.emoIndex[e] = i
	}
	if len(o.Rules) == 0 {
		return m, nil
	}
	if err := monitor.Validate(o.Rules, pack.Meta.Emotions); err != nil {
		return nil, fmt.Errorf("telemetry: rules: %w", err)
	}
	nLayers := o.NLayers
	if nLayers <= 0 {
		nLayers = pack.Meta.Model.NLayers
	}
	rules, err := monitor.ResolveLayers(o.Rules, nLayers)
	if err != nil {
		return nil, fmt.Errorf("telemetry: rules: %w", err)
	}
	rs, err := monitor.NewRuleSet(rules, m.defaultLayer)
	if err != nil {
		return nil, fmt.Errorf("telemetry: rules: %w", err)
	}
	for _, k := range rs.Keys() {
		if k.Stat.IsDelta() {
			return nil, fmt.Errorf("telemetry: rules read %s: %s is a change between training checkpoints (limbic watch), not a token readout", k, k.Stat)
		}
		if _, err := pack.LayerIndex(k.Layer); err != nil {
			return nil, fmt.Errorf("telemetry: rules read %s: %w", k, err)
		}
		if k.Stat == monitor.Stat(readout.ZScore) {
			if r, err := m.Reader(k.Layer); err != nil || !r.HasBaseline() {
				return nil, fmt.Errorf("telemetry: rules read %s: the vector pack has no neutral baseline for z-scores at layer %d", k, k.Layer)
			}
		}
		if !slices.Contains(m.ruleLayers, k.Layer) {
			m.ruleLayers = append(m.ruleLayers, k.Layer)
		}
	}
	for _, r := range rs.Rules() {
		if r.Action.Type != monitor.Regulate {
			continue
		}
		spec, err := r.Action.SteerSpec()
		if err != nil {
			return nil, fmt.Errorf("telemetry: rule %s: %w", r.Name, err)
		}
		vecs, err := steer.Vectors(spec, pack, steer.Options{Kind: vecpack.Denoised, NLayers: o.NLayers, Dim: o.Dim})
		if err != nil {
			return nil, fmt.Errorf("telemetry: rule %s: %w", r.Name, err)
		}
		m.regulate = append(m.regulate, regulateVecs{rule: r.Name, vecs: vecs})
	}
	m.rules = rs
	return m, nil
}

// Pack returns the monitor's vector pack.
func (m *Monitor) Pack() *vecpack.Pack { return m.pack }

// Emotions returns the pack's emotions: the order of every readout's values.
func (m *Monitor) Emotions() []string { return m.pack.Meta.Emotions }

// EmotionIndex returns the position of an emotion in Emotions.
func (m *Monitor) EmotionIndex(name string) (int, bool) { i, ok := m.emoIndex[name]; return i, ok }

// DefaultLayer returns the pack's default readout layer.
func (m *Monitor) DefaultLayer() int { return m.defaultLayer }

// Rules returns the rule set (nil without rules).
func (m *Monitor) Rules() *monitor.RuleSet { return m.rules }

// Reader returns the shared reader of a layer (all the pack's emotions,
// denoised vectors).
func (m *Monitor) Reader(layer int) (*readout.Reader, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.readers[layer]; r != nil {
		return r, nil
	}
	r, err := readout.NewReader(m.pack, layer, nil, vecpack.Denoised)
	if err != nil {
		return nil, err
	}
	m.readers[layer] = r
	return r, nil
}

// Values returns the statistic st of a readout (projection for an unknown
// metric).
func Values(st readout.Metric, sc *readout.Scores) []float32 {
	switch st {
	case readout.Cosine:
		return sc.Cos
	case readout.ZScore:
		return sc.Z
	}
	return sc.Proj
}
