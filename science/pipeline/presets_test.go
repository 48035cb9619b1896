package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/stories"
)

func TestPresets(t *testing.T) {
	m := embedded(t)
	for _, name := range PresetNames() {
		pr := Presets[name]
		var c Config
		c.Preset = name
		c.Defaults(m)
		if c.PerTopic != pr.PerTopic || c.MaxTokens != pr.MaxTokens || c.Extract.Window.Offset != pr.Offset || c.Extract.Denoise.Fraction != pr.Denoise {
			t.Errorf("preset %s: per topic %d, tokens %d, offset %d, denoise %v; want %+v", name, c.PerTopic, c.MaxTokens, c.Extract.Window.Offset, c.Extract.Denoise.Fraction, pr)
		}
		if _, err := stories.OpeningSet(pr.Openings); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	// Explicit fields win over the preset.
	c := Config{Preset: "thorough", PerTopic: 2, Openings: "dialogue"}
	c.Defaults(m)
	if c.PerTopic != 2 || c.Openings != "dialogue" {
		t.Errorf("explicit fields lost: per topic %d, openings %q", c.PerTopic, c.Openings)
	}
	if _, err := LookupPreset("huge"); err == nil || !strings.Contains(err.Error(), "thorough") {
		t.Errorf("unknown preset: %v", err)
	}
	var d Config
	d.Defaults(m)
	if pr := Presets["default"]; d.PerTopic != pr.PerTopic || d.MaxTokens != pr.MaxTokens {
		t.Errorf("no preset: per topic %d, tokens %d; want the default preset's %d, %d", d.PerTopic, d.MaxTokens, pr.PerTopic, pr.MaxTokens)
	}
}

// TestOpeningsReachStories: a run's opening set is what its stories open
// with, and the neutral texts keep theirs.
func TestOpeningsReachStories(t *testing.T) {
	m := embedded(t)
	c := tiny(t.TempDir())
	c.Openings, c.PerTopic, c.MaxTokens = "first-person", 1, 20
	if _, _, err := Stories(context.Background(), m, c); err != nil {
		t.Fatal(err)
	}
	emo, err := stories.ReadAll(c.Dir + "/" + StoriesFile)
	if err != nil || len(emo) == 0 {
		t.Fatalf("%d stories, %v", len(emo), err)
	}
	for _, s := range emo {
		if !strings.HasPrefix(s.Prefix, "My name is") && !strings.HasPrefix(s.Prefix, "I am") {
			t.Errorf("story %s opens %q, not in the first person", s.ID, s.Prefix)
		}
	}
	neu, err := stories.ReadAll(c.Dir + "/" + NeutralFile)
	if err != nil || len(neu) == 0 {
		t.Fatalf("%d neutral texts, %v", len(neu), err)
	}
	for _, s := range neu {
		if strings.HasPrefix(s.Prefix, "My name is") || strings.Contains(s.Prefix, "{") {
			t.Errorf("neutral text %s opens %q", s.ID, s.Prefix)
		}
	}
	c.Openings = "sideways"
	if _, _, err := Stories(context.Background(), m, c); err == nil || !strings.Contains(err.Error(), "unknown opening set") {
		t.Errorf("unknown set: %v", err)
	}
}

func TestEstimate(t *testing.T) {
	m := embedded(t)
	c := tiny(t.TempDir())
	c.Defaults(m)
	d, err := Estimate(context.Background(), m, c)
	if err != nil {
		t.Fatal(err)
	}
	// 3 emotions × 3 topics × 3 + 6 neutral texts of 24 tokens: seconds at most.
	if !(d > 0 && d.Seconds() < 120) {
		t.Errorf("estimate %v", d)
	}
	gen, err := stories.NewOpenAI("http://localhost:1/v1", "x")
	if err != nil {
		t.Fatal(err)
	}
	c.Generator = gen
	if _, err := Estimate(context.Background(), m, c); err == nil {
		t.Error("an estimate for stories from an endpoint")
	}
}
