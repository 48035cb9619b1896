package catalog

import (
	"slices"
	"strings"
	"testing"
)

// TestNamedEmotions checks the checker itself on planted sentences.
func TestNamedEmotions(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Lily smiled and ran to the park.", nil},
		{"Lily was so HAPPY that she ran.", []string{"happy"}},
		{"Tom felt Lonely.", []string{"lonely"}},
		{"He was proud, then scared.", []string{"afraid", "proud", "scared"}}, // "scared" is on both fear lists
		{"She was afraid.", []string{"afraid", "scared"}},
		{"The shadow was sadder than before; Tom was unhappy.", []string{"happy", "sad"}},
		{"He said \"peace!\" and sat down.", []string{"calm"}},
		{"Madison cannot bore a hole.", []string{"bored"}}, // whole words only: "bore" is listed, "Madison" is not "mad"
		{"The saddle was on the horse.", nil},              // "saddle" is not "sad"
	}
	for _, tt := range tests {
		if got := NamedEmotions(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("NamedEmotions(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// TestHandwrittenWordLists checks every hand-written story: its emotion has a
// forbidden-word list, it names no emotion of the set, and it is 40-90 words.
func TestHandwrittenWordLists(t *testing.T) {
	stories := Handwritten()
	if len(stories) == 0 {
		t.Fatal("no hand-written stories")
	}
	for _, s := range stories {
		if _, ok := emotionWords[s.Emotion]; !ok {
			t.Errorf("%s: no forbidden-word list for emotion %q", s.ID, s.Emotion)
		}
		if got := NamedEmotions(s.Text); len(got) > 0 {
			t.Errorf("%s: names emotions %v: %q", s.ID, got, s.Text)
		}
		if n := len(strings.Fields(s.Text)); n < 40 || n > 90 {
			t.Errorf("%s: %d words, want 40-90", s.ID, n)
		}
	}
}

// TestHandwrittenCounts checks the set's coverage: 4 stories per core
// emotion, 6 per case-study emotion, unique IDs, one story per line.
func TestHandwrittenCounts(t *testing.T) {
	count := map[string]int{}
	ids := map[string]bool{}
	for _, s := range Handwritten() {
		count[s.Emotion]++
		if ids[s.ID] {
			t.Errorf("duplicate ID %s", s.ID)
		}
		ids[s.ID] = true
	}
	for _, e := range CoreNames() {
		if count[e] < 4 {
			t.Errorf("core emotion %s: got %d stories, want at least 4", e, count[e])
		}
	}
	for _, e := range CaseStudyNames() {
		if count[e] < 6 {
			t.Errorf("case-study emotion %s: got %d stories, want at least 6", e, count[e])
		}
	}
	for e := range count {
		if !slices.Contains(DefaultNames(), e) {
			t.Errorf("emotion %s is not among the default run's emotions", e)
		}
	}
}

// TestEmotionWordsCoverDefault checks that every emotion of the default run
// has a word list containing the emotion itself, and that the lists are copies.
func TestEmotionWordsCoverDefault(t *testing.T) {
	for _, e := range DefaultNames() {
		w, ok := EmotionWords(e)
		if !ok || !slices.Contains(w, e) {
			t.Errorf("EmotionWords(%q) = %v, %v; want a list containing %q", e, w, ok, e)
			continue
		}
		w[0] = "changed"
		if again, _ := EmotionWords(e); again[0] == "changed" {
			t.Errorf("EmotionWords(%q) returned the package's own slice", e)
		}
	}
	if w, ok := EmotionWords("awestruck"); ok {
		t.Errorf("EmotionWords(awestruck) = %v, true; want no list", w)
	}
}
