package catalog

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// forbidden lists, per emotion of the hand-written set, the emotion word, its
// inflections and close synonyms. Every story is checked against every list,
// not only its own emotion's, so that no story leans on an emotion word at
// all ("she was not sad" would give a happy story away too).
var forbidden = map[string][]string{
	"happy": {"happy", "happily", "happiness", "happier", "happiest", "unhappy", "glad", "gladly", "joy", "joys",
		"joyful", "joyfully", "joyous", "cheerful", "cheerfully", "delighted", "delight", "delightful", "pleased",
		"merry", "content", "contented", "elated", "ecstatic", "blissful", "bliss"},
	"sad": {"sad", "sadly", "sadness", "sadder", "saddest", "sorrow", "sorrowful", "gloomy", "miserable",
		"misery", "heartbroken", "upset", "depressed", "downcast", "mournful", "grief", "grieve", "grieving", "unhappily"},
	"angry": {"angry", "angrily", "anger", "angered", "angrier", "angriest", "mad", "madder", "furious", "furiously",
		"fury", "rage", "raged", "raging", "annoyed", "irritated", "livid", "enraged", "grumpy", "cranky", "outraged", "hostile"},
	"scared": {"scared", "scare", "scares", "scary", "scaring", "fear", "fears", "feared", "fearful", "fearfully",
		"frightened", "fright", "frighten", "frightening", "terrified", "terror", "terrifying", "afraid", "spooked", "panic", "panicked"},
	"afraid": {"afraid", "scared", "scary", "fear", "fearful", "frightened", "terrified", "terror", "spooked", "panic", "panicked"},
	"surprised": {"surprised", "surprise", "surprises", "surprising", "surprisingly", "amazed", "amazing", "amazement",
		"astonished", "astonishing", "shocked", "shock", "startled", "stunned", "unexpected"},
	"proud":  {"proud", "proudly", "prouder", "pride"},
	"lonely": {"lonely", "loneliness", "lonelier", "lonesome", "alone", "isolated", "friendless"},
	"excited": {"excited", "excitedly", "exciting", "excitement", "excite", "thrilled", "thrilling", "thrill",
		"eager", "eagerly", "eagerness"},
	"nervous": {"nervous", "nervously", "nervousness", "nerves", "anxious", "anxiously", "anxiety", "jittery",
		"jumpy", "uneasy", "tense", "edgy", "apprehensive"},
	"calm": {"calm", "calmly", "calmness", "calmer", "calmed", "peaceful", "peacefully", "peace", "serene",
		"tranquil", "relaxed", "relaxing", "relax", "soothed", "untroubled"},
	"jealous":  {"jealous", "jealously", "jealousy", "envy", "envious", "envied", "resentful", "resentment"},
	"grateful": {"grateful", "gratefully", "gratitude", "thankful", "thankfully", "thankfulness", "appreciative", "appreciate", "appreciated", "indebted"},
	"bored":    {"bored", "boring", "boredom", "bore", "dull", "tedious", "tiresome", "uninterested", "monotonous"},
	"embarrassed": {"embarrassed", "embarrassing", "embarrassment", "embarrass", "ashamed", "shame", "shameful",
		"humiliated", "humiliation", "mortified", "sheepish", "sheepishly", "awkward"},
	"frustrated": {"frustrated", "frustrating", "frustration", "frustrate", "annoyed", "annoying", "irritated",
		"exasperated", "fed"},
	"worried": {"worried", "worry", "worries", "worrying", "worriedly", "anxious", "anxiety", "concerned",
		"concern", "fret", "fretted", "fretting", "uneasy", "troubled"},
	"desperate": {"desperate", "desperately", "desperation", "despair", "despairing", "hopeless", "hopelessly",
		"frantic", "frantically"},
	"loving": {"love", "loves", "loved", "loving", "lovingly", "lovely", "affection", "affectionate", "adore",
		"adored", "adoring", "fond", "fondly", "fondness", "cherish", "cherished", "tender", "tenderly", "devoted"},
}

var wordRE = regexp.MustCompile(`[a-z]+`)

// namedEmotions returns the emotions (sorted, once each) whose forbidden
// words occur in text as whole words, case-insensitively.
func namedEmotions(text string) []string {
	var out []string
	words := wordRE.FindAllString(strings.ToLower(text), -1)
	for e, list := range forbidden {
		for _, w := range words {
			if slices.Contains(list, w) {
				out = append(out, e)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

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
		if got := namedEmotions(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("namedEmotions(%q) = %v, want %v", tt.text, got, tt.want)
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
		if _, ok := forbidden[s.Emotion]; !ok {
			t.Errorf("%s: no forbidden-word list for emotion %q", s.ID, s.Emotion)
		}
		if got := namedEmotions(s.Text); len(got) > 0 {
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
