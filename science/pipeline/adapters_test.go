package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/science/extract"
)

var residualTexts = []extract.Text{
	{Prefix: "Lily was sad because ", Text: "her kite was lost in the big tree."},
	{Prefix: "", Text: "Tom ran to the park and saw a dog."},
	{Prefix: "Once upon a time, ", Text: "there was a happy little bird who sang every day in the sun."},
	{Prefix: "Ben felt scared when ", Text: "the lights went out."},
}

// residuals runs texts through Runner.Residuals in one batch and returns,
// per text and layer, the rows and the text's first token.
func residuals(t testing.TB, r Runner, texts []extract.Text, layers []int) (rows [][][]float32, starts []int) {
	rows = make([][][]float32, len(texts))
	starts = make([]int, len(texts))
	for i := range rows {
		rows[i] = make([][]float32, len(layers))
	}
	err := r.Residuals(context.Background(), texts, layers, func(i, layer int, data []float32, textStart int) error {
		for li, l := range layers {
			if l == layer {
				rows[i][li] = append([]float32(nil), data...)
			}
		}
		starts[i] = textStart
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, starts
}

// TestResidualsBatchIsSingle checks that batching texts of different lengths
// changes nothing: each text's residual rows in a batch of four equal those
// of the text run alone, and rows and text starts follow the tokens.
func TestResidualsBatchIsSingle(t *testing.T) {
	m := embedded(t)
	r := Runner{M: m}
	layers := []int{0, 3, m.Layers - 1}
	batch, bStarts := residuals(t, r, residualTexts, layers)
	for i, text := range residualTexts {
		alone, aStarts := residuals(t, r, residualTexts[i:i+1], layers)
		ids := m.Tok.Encode(text.Prefix+text.Text, m.Tok.DefaultAddBOS())
		wantStart := len(m.Tok.Encode(text.Prefix, m.Tok.DefaultAddBOS()))
		if text.Prefix == "" {
			wantStart = 1 // BOS
		}
		if bStarts[i] != wantStart || aStarts[0] != wantStart {
			t.Errorf("text %d: start %d batched, %d alone, want %d", i, bStarts[i], aStarts[0], wantStart)
		}
		for li, l := range layers {
			if got, want := len(batch[i][li]), len(ids)*m.Dim; got != want {
				t.Errorf("text %d layer %d: %d values, want %d tokens × %d", i, l, got, len(ids), m.Dim)
			}
			if d := approx.MaxAbsDiff(batch[i][li], alone[0][li]); !(d <= 1e-4) {
				t.Errorf("text %d layer %d: batched vs alone max |Δ| %g, want ≤ 1e-4", i, l, d)
			}
		}
	}
}

// BenchmarkResiduals reads every layer's residual stream of 1, 4 and 16
// texts in one batch and reports tokens per second.
func BenchmarkResiduals(b *testing.B) {
	m := embedded(b)
	r := Runner{M: m}
	layers := make([]int, m.Layers)
	for i := range layers {
		layers[i] = i
	}
	for _, bs := range []int{1, 4, 16} {
		texts := make([]extract.Text, bs)
		for i := range texts {
			texts[i] = residualTexts[i%len(residualTexts)]
		}
		b.Run(fmt.Sprintf("batch%d", bs), func(b *testing.B) {
			tokens := 0
			for b.Loop() {
				err := r.Residuals(context.Background(), texts, layers, func(_, layer int, rows []float32, _ int) error {
					if layer == 0 {
						tokens += len(rows) / m.Dim
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
