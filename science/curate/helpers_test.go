package curate

import (
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/readout"
)

// meanReadout is the reference: readout.Scan's per-token z-scores averaged
// from position from on.
func meanReadout(t *testing.T, m *model.Model, s *Scorer, ids []int, from int) []float64 {
	t.Helper()
	sc, err := readout.Scan(m.Transformer, ids, s.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(s.Emotions()))
	for _, x := range sc[from:] {
		for i := range out {
			out[i] += float64(x.Z[i])
		}
	}
	for i := range out {
		out[i] /= float64(len(sc) - from)
	}
	return out
}
