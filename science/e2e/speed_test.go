//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/stories"
)

func TestSpeed(t *testing.T) {
	ctx := context.Background()
	m, err := model.Load(ctx, "", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := stories.ReadAll(filepath.Join("/tmp/e2e_small", "stories.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	r := pipeline.Runner{M: m}
	for _, bs := range []int{1, 4, 16} {
		texts := make([]extract.Text, bs)
		for i := range texts {
			texts[i] = extract.Text{Prefix: all[i].Prefix, Text: all[i].Text}
		}
		t0 := time.Now()
		n := 0
		r.Residuals(ctx, texts, []int{0, 1, 2, 3, 4, 5}, func(i, layer int, rows []float32, ts int) error {
			if layer == 0 {
				n += len(rows) / 288
			}
			return nil
		})
		t.Logf("batch %d: %d tokens in %v (%.0f tok/s)", bs, n, time.Since(t0), float64(n)/time.Since(t0).Seconds())
	}
}
