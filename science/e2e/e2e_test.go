//go:build e2e

// Package e2e runs the whole pipeline on the embedded model (stories15M):
// go test -tags e2e -run TestPipeline -timeout 60m ./science/e2e
// with LIMBIC_E2E_DIR to keep the outputs and E2E_* variables to size it.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func TestPipeline(t *testing.T) {
	ctx := context.Background()
	dir := os.Getenv("LIMBIC_E2E_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	m, err := model.Load(ctx, "", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	emotions := catalog.CoreNames()
	topics := catalog.ChildTopics()[:envInt("E2E_TOPICS", 32)]
	perTopic := envInt("E2E_PER_TOPIC", 2)
	seed := uint64(envInt("E2E_SEED", 1))
	maxTok := envInt("E2E_MAX_TOKENS", 40)
	offset := envInt("E2E_OFFSET", 0)
	gen := pipeline.Generator{M: m}

	t0 := time.Now()
	st, err := stories.OpenStore(filepath.Join(dir, "stories.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := stories.Generate(ctx, stories.Config{Spec: stories.Spec{Kind: stories.Emotional, Emotions: emotions, Topics: topics,
		PerTopic: perTopic, Seed: seed}, Style: stories.StyleBase, Batch: envInt("E2E_BATCH", 16), MaxTokens: maxTok, Openings: openings()}, gen, st, nil)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	tGen := time.Since(t0)
	t.Logf("stories: %+v in %v", sum, tGen)

	t0 = time.Now()
	nt, _ := stories.OpenStore(filepath.Join(dir, "neutral.jsonl"))
	nsum, err := stories.Generate(ctx, stories.Config{Spec: stories.Spec{Kind: stories.Neutral, Topics: catalog.ChildNeutralTopics(),
		PerTopic: envInt("E2E_NEUTRAL_PER_TOPIC", 2), Seed: seed + 1}, Style: stories.StyleBase, Batch: 16, MaxTokens: maxTok}, gen, nt, nil)
	nt.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("neutral: %+v in %v", nsum, time.Since(t0))

	t0 = time.Now()
	cfg := extract.BaseStoryConfig()
	cfg.Window.Offset = offset
	cfg.Window.Short = extract.ShortPolicy(os.Getenv("E2E_SHORT"))
	cfg.Batch = envInt("E2E_EXTRACT_BATCH", 1)
	cfg.Checkpoint = filepath.Join(dir, fmt.Sprintf("extract-%d-%s-%d.ckpt", offset, cfg.Window.Short, envInt("E2E_MAX_TEXT", 0)))
	if f, err := strconv.ParseFloat(os.Getenv("E2E_FRACTION"), 64); err == nil {
		cfg.Denoise.Fraction = f
	}
	in := extract.Input{Model: vecpack.ModelInfo{ID: "stories15M"}, Emotions: emotions,
		Stories: []string{filepath.Join(dir, "stories.jsonl")}, Neutral: []string{filepath.Join(dir, "neutral.jsonl")}}
	res, err := extract.Run(ctx, pipeline.Runner{M: m, MaxText: envInt("E2E_MAX_TEXT", 0)}, in, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("extract: %+v in %v", res.Stats, time.Since(t0))
	for _, li := range res.Pack.Meta.LayerInfo {
		t.Logf("layer %d: norm %.2f, PCs %d (%.2f)", li.Layer, li.MeanResidNorm, li.PCsRemoved, li.VarianceExplained)
	}
	for _, kind := range []vecpack.Kind{vecpack.Denoised, vecpack.Raw} {
		v, err := validate.Run(res.Pack, res.HeldOut, validate.Options{Kind: kind, Unembedder: pipeline.Lens{M: m}})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range v.Layers {
			t.Logf("%s layer %d: top1 %.3f top5 %.3f (uncentred %.3f) pc1 sign %.2f spearman %v ari %.3f", kind, l.Layer, l.All.Top1, l.All.Top5,
				l.All.Top1Uncentered, deref(l.All.PC1SignAgreement), fmtp(l.All.PC1ValenceSpearman), l.All.KMeans.ARI)
		}
		t.Logf("%s: best layer %d, core top1 %.3f top5 %.3f pc1 sign %.3f", kind, v.BestLayer, v.Core.Top1, v.Core.Top5, deref(v.Core.PC1SignAgreement))
		if kind == vecpack.Denoised && os.Getenv("E2E_ASSERT") != "" && !(v.Core.Top1 >= 0.40 && deref(v.Core.PC1SignAgreement) >= 0.80) {
			t.Errorf("targets missed: core top-1 %.3f (want ≥ 0.40), PC1 sign agreement %.3f (want ≥ 0.80)", v.Core.Top1, deref(v.Core.PC1SignAgreement))
		}
		if kind == vecpack.Denoised {
			report.WriteFiles(dir, report.Input{Result: v, Params: map[string]string{"topics": fmt.Sprint(len(topics)), "offset": fmt.Sprint(offset)}})
			for _, l := range v.Layers {
				if l.Layer != v.BestLayer {
					continue
				}
				b, _ := json.Marshal(l.All.PCA)
				t.Logf("pca %s", b)
				for _, e := range l.All.Lens {
					var top, bottom []string
					for _, x := range e.Top {
						top = append(top, x.Text)
					}
					for _, x := range e.Bottom {
						bottom = append(bottom, x.Text)
					}
					t.Logf("lens %-12s ↑ %q ↓ %q", e.Emotion, top, bottom)
				}
			}
		}
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
func fmtp(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *p)
}

// openings picks story-opening templates by E2E_OPENINGS: "" (the defaults,
// ending in "because") or "period" (the same ending in ".").
func openings() []string {
	if os.Getenv("E2E_OPENINGS") != "period" {
		return nil
	}
	var out []string
	for _, o := range stories.EmotionalOpenings() {
		out = append(out, strings.TrimSuffix(o, " because")+".")
	}
	return out
}
