package pipeline

import (
	"context"
	"os"
	"path/filepath"
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

// A run directory's stories keep their settings: a second run with another
// length or opening set is refused, naming the field, and so is an older
// directory without a settings file whose stories are longer than the run
// allows.
func TestStorySettingsRefused(t *testing.T) {
	m := embedded(t)
	c := tiny(t.TempDir())
	c.PerTopic, c.MaxTokens = 1, 24
	ctx := context.Background()
	if _, _, err := Stories(ctx, m, c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Stories(ctx, m, c); err != nil {
		t.Fatalf("the same settings again: %v", err)
	}
	for _, edit := range []struct {
		f    func(*Config)
		want string
	}{
		{func(c *Config) { c.MaxTokens = 16 }, "max tokens 16 against 24"},
		{func(c *Config) { c.Openings = "dialogue" }, `openings "dialogue" against "because"`},
		{func(c *Config) { c.Seed = 9 }, "seed 9 against 5"},
	} {
		d := c
		edit.f(&d)
		if _, _, err := Stories(ctx, m, d); err == nil || !strings.Contains(err.Error(), edit.want) {
			t.Errorf("err = %v, want one naming %q", err, edit.want)
		}
	}
	if err := os.Remove(filepath.Join(c.Dir, SettingsFile)); err != nil {
		t.Fatal(err)
	}
	d := c
	d.MaxTokens = 8
	if _, _, err := Stories(ctx, m, d); err == nil || !strings.Contains(err.Error(), "larger --max-tokens") {
		t.Errorf("an older directory of longer stories: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, SettingsFile)); err == nil {
		t.Error("the refused run wrote its settings")
	}
}
