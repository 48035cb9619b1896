package vecpack

import (
	"errors"
	"fmt"
	"slices"
)

// HeldOutFormat identifies the held-out file's metadata.
const HeldOutFormat = "limbic.heldout-means"

// HeldOut holds the per-story mean activations of held-out stories, the
// input of validation. Memory: n_stories × n_layers × d × 4 bytes.
type HeldOut struct {
	Model    ModelInfo   `json:"model"`
	Emotions []string    `json:"emotions"`
	Layers   []int       `json:"layers"`
	IDs      []string    `json:"ids"`
	Labels   []int       `json:"-"` // emotion index per story
	Means    [][]float32 `json:"-"` // [layerIdx][story*d + j]
}

// NewHeldOut returns an empty set.
func NewHeldOut(model ModelInfo, emotions []string, layers []int) *HeldOut {
	return &HeldOut{Model: model, Emotions: slices.Clone(emotions), Layers: slices.Clone(layers),
		Means: make([][]float32, len(layers))}
}

// Len returns the number of stories.
func (h *HeldOut) Len() int { return len(h.Labels) }

// Add appends one story's per-layer means.
func (h *HeldOut) Add(id string, emotion int, means [][]float32) error {
	d := h.Model.DModel
	if emotion < 0 || emotion >= len(h.Emotions) {
		return fmt.Errorf("vecpack: emotion index %d out of range", emotion)
	}
	if len(means) != len(h.Layers) {
		return fmt.Errorf("vecpack: %d layers of means, want %d", len(means), len(h.Layers))
	}
	for l, m := range means {
		if len(m) != d {
			return fmt.Errorf("vecpack: mean of width %d at layer %d, want %d", len(m), h.Layers[l], d)
		}
	}
	for l, m := range means {
		h.Means[l] = append(h.Means[l], m...)
	}
	h.IDs = append(h.IDs, id)
	h.Labels = append(h.Labels, emotion)
	return nil
}

// Merge appends o's stories.
func (h *HeldOut) Merge(o *HeldOut) error {
	if h.Model.DModel != o.Model.DModel || !slices.Equal(h.Emotions, o.Emotions) || !slices.Equal(h.Layers, o.Layers) {
		return errors.New("vecpack: held-out sets differ in emotions, layers or width")
	}
	for l := range h.Means {
		h.Means[l] = append(h.Means[l], o.Means[l]...)
	}
	h.IDs = append(h.IDs, o.IDs...)
	h.Labels = append(h.Labels, o.Labels...)
	return nil
}

// Story returns story i's mean at layer index l (shared).
func (h *HeldOut) Story(l, i int) []float32 {
	d := h.Model.DModel
	return h.Means[l][i*d : (i+1)*d]
}

// Check verifies sizes and labels.
func (h *HeldOut) Check() error {
	d, n := h.Model.DModel, len(h.Labels)
	if d <= 0 || len(h.Emotions) == 0 || len(h.Layers) == 0 {
		return errors.New("vecpack: empty held-out set header")
	}
	if len(h.IDs) != n || len(h.Means) != len(h.Layers) {
		return fmt.Errorf("vecpack: held-out set with %d ids, %d labels, %d layers of means for %d layers", len(h.IDs), n, len(h.Means), len(h.Layers))
	}
	for l, m := range h.Means {
		if len(m) != n*d {
			return fmt.Errorf("vecpack: held-out means at layer %d: %d values, want %d", h.Layers[l], len(m), n*d)
		}
	}
	for _, e := range h.Labels {
		if e < 0 || e >= len(h.Emotions) {
			return fmt.Errorf("vecpack: held-out label %d out of range", e)
		}
	}
	return nil
}
