//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// TestTiny wires every step on the embedded model with a tiny configuration
// (seconds): it checks the plumbing, not the numbers.
func TestTiny(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := model.Load(ctx, "", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gen := pipeline.Generator{M: m}
	emotions := []string{"happy", "sad", "angry", "calm"}
	sp, np := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "n.jsonl")
	for _, c := range []struct {
		path string
		cfg  stories.Config
	}{
		{sp, stories.Config{Spec: stories.Spec{Kind: stories.Emotional, Emotions: emotions, Topics: catalog.ChildTopics()[:3], PerTopic: 2, Seed: 1},
			Style: stories.StyleBase, MaxTokens: 24, HeldOut: 0.3, MinChars: 1}},
		{np, stories.Config{Spec: stories.Spec{Kind: stories.Neutral, Topics: catalog.ChildNeutralTopics()[:4], PerTopic: 1, Seed: 2},
			Style: stories.StyleBase, MaxTokens: 24, MinChars: 1}},
	} {
		st, err := stories.OpenStore(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stories.Generate(ctx, c.cfg, gen, st, nil); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	cfg := extract.BaseStoryConfig()
	cfg.HeldOut = 0.3
	hash, err := vecpack.HashFiles(filepath.Join(filepath.Dir(m.Path), "model.bin"))
	if err != nil {
		hash = ""
	}
	res, err := extract.Run(ctx, pipeline.Runner{M: m}, extract.Input{Model: vecpack.ModelInfo{ID: "stories15M", Hash: hash},
		Emotions: emotions, Stories: []string{sp}, Neutral: []string{np}}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.HeldOut.Len() == 0 {
		t.Skip("no held-out story drawn in the tiny run")
	}
	packPath := filepath.Join(dir, "vectors.safetensors")
	if err := vecpack.Write(packPath, res.Pack); err != nil {
		t.Fatal(err)
	}
	pack, err := vecpack.Read(packPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := pack.CheckModel(vecpack.ModelInfo{ID: "stories15M", Hash: hash, DModel: m.Dim, NLayers: m.Layers}); err != nil {
		t.Fatal(err)
	}
	v, err := validate.Run(pack, res.HeldOut, validate.Options{Unembedder: pipeline.Lens{M: m}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := report.WriteFiles(dir, report.Input{Result: v}); err != nil {
		t.Fatal(err)
	}
	t.Logf("best layer %d, core top-1 %.2f over %d held-out stories", v.BestLayer, v.Core.Top1, v.HeldOut)
}
