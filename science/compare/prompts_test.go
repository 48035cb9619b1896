package compare

import (
	"strings"
	"testing"
)

func TestDefaultPrompts(t *testing.T) {
	ps := DefaultPrompts()
	cats := map[string]int{}
	groups := map[string]int{}
	for _, p := range ps {
		groups[p.Group]++
		if p.Group == Challenging {
			cats[p.Category]++
		}
	}
	for _, c := range []string{"isolation", "praise", "deprecation", "accusation", "stakes"} {
		if cats[c] < 3 {
			t.Errorf("challenging category %s: %d prompts, want at least 3", c, cats[c])
		}
	}
	if got, want := groups[Neutral], groups[Challenging]; got != want {
		t.Errorf("%d neutral prompts, want as many as the %d challenging ones", got, want)
	}
}

func TestParsePrompts(t *testing.T) {
	tests := []struct {
		name, in string
		want     int    // prompts
		err      string // "" for none
	}{
		{"two and three fields", "# c\nneutral\tWhat is 2+2?\n\nChallenging\tpraise\tYou are perfect.\n", 2, ""},
		{"bad group", "neutral\ta\nhappy\tb\n", 0, "x.tsv:2: group \"happy\""},
		{"no tab", "neutral\ta\nchallenging b\n", 0, "x.tsv:2: want GROUP"},
		{"empty prompt", "neutral\t \nchallenging\tb\n", 0, "x.tsv:1: empty prompt"},
		{"one group", "neutral\ta\nneutral\tb\n", 0, "want both groups"},
	}
	for _, tt := range tests {
		ps, err := ParsePrompts(strings.NewReader(tt.in), "x.tsv")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := len(ps); got != tt.want {
			t.Errorf("%s: %d prompts, want %d", tt.name, got, tt.want)
		}
	}
}
