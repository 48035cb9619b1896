package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/stories"
)

// SettingsFile records how a run directory's stories were made, so that a
// later run with other settings is refused instead of completing the
// directory with stories of another kind (story IDs name the emotion, topic
// and index, not the length or opening).
const SettingsFile = "stories.settings.json"

// storySettings are the settings that shape a story's text.
type storySettings struct {
	Generator string        `json:"generator"`
	Style     stories.Style `json:"style"`
	MaxTokens int           `json:"max_tokens"`
	Openings  string        `json:"openings,omitempty"`
	Seed      uint64        `json:"seed"`
}

func (c *Config) storySettings(style stories.Style) storySettings {
	o := c.Openings
	if o == "because" {
		o = ""
	}
	return storySettings{Generator: c.Generator.Name(), Style: style, MaxTokens: c.MaxTokens, Openings: o, Seed: c.Seed}
}

// checkSettings refuses a run whose story settings differ from those the
// directory's stories were made with, naming the field with both values. A
// directory from before the settings file existed is checked by the length
// of its stories: texts longer than the run's max tokens allow (with room
// for a tokenizer's re-encoding) were made with a larger max. It then
// records the settings.
func checkSettings(dir string, want storySettings, m *model.Model) error {
	path := filepath.Join(dir, SettingsFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var have storySettings
		if err := json.Unmarshal(b, &have); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var diff []string
		if have.Generator != want.Generator {
			diff = append(diff, fmt.Sprintf("generator %s against %s", want.Generator, have.Generator))
		}
		if have.Style != want.Style {
			diff = append(diff, fmt.Sprintf("style %s against %s", want.Style, have.Style))
		}
		if have.MaxTokens != want.MaxTokens {
			diff = append(diff, fmt.Sprintf("max tokens %d against %d", want.MaxTokens, have.MaxTokens))
		}
		if have.Openings != want.Openings {
			diff = append(diff, fmt.Sprintf("openings %q against %q", orDefault(want.Openings), orDefault(have.Openings)))
		}
		if have.Seed != want.Seed {
			diff = append(diff, fmt.Sprintf("seed %d against %d", want.Seed, have.Seed))
		}
		if len(diff) > 0 {
			return fmt.Errorf("%s holds stories made with other settings (%s: this run's against the directory's); use another --dir, or the directory's settings", dir, strings.Join(diff, ", "))
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := legacyLength(dir, want.MaxTokens, m); err != nil {
		return err
	}
	out, _ := json.MarshalIndent(want, "", "  ")
	return atomicfile.WriteBytes(path, 0o644, append(out, '\n'))
}

func orDefault(s string) string {
	if s == "" {
		return "because"
	}
	return s
}

// legacyLength checks the stories of a directory without a settings file
// against max tokens: one whose text has more than max tokens + 8 (room
// for a tokenizer that encodes a decoded text in more tokens than were
// sampled) was made with a larger max.
func legacyLength(dir string, maxTokens int, m *model.Model) error {
	tok, err := m.Tokenizer()
	if err != nil {
		return err
	}
	for _, f := range []string{StoriesFile, NeutralFile} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		longest := 0
		if err := stories.Read(p, func(s *stories.Story) error {
			longest = max(longest, len(tok.Encode(s.Text, false)))
			return nil
		}); err != nil {
			return err
		}
		if longest > maxTokens+8 {
			return fmt.Errorf("%s holds stories of up to %d tokens, made with a larger --max-tokens than this run's %d (a run before limbic recorded its settings); use another --dir, or --max-tokens %d", dir, longest, maxTokens, longest)
		}
	}
	return nil
}
