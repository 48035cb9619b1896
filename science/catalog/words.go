package catalog

import (
	"regexp"
	"slices"
	"strings"
)

// emotionWords lists, per emotion of the default 19-emotion set, the emotion word, its
// inflections and close synonyms. Every story is checked against every list,
// not only its own emotion's, so that no story leans on an emotion word at
// all ("she was not sad" would give a happy story away too).
var emotionWords = map[string][]string{
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

// NamedEmotions returns the emotions (sorted, once each) whose words (see
// [EmotionWords]) occur in text as whole words, case-insensitively.
func NamedEmotions(text string) []string {
	var out []string
	words := wordRE.FindAllString(strings.ToLower(text), -1)
	for e, list := range emotionWords {
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

// EmotionWords returns the words that name emotion or give it away: the
// emotion word, its inflections and close synonyms, lower case. It covers the
// emotions of [DefaultNames]; ok is false for any other emotion. A text that
// should convey an emotion without naming it must contain none of these as a
// whole word (the hand-written set is checked against every list, and
// science/chatdata filters the model's stories with them).
func EmotionWords(emotion string) (words []string, ok bool) {
	w, ok := emotionWords[NormalizeEmotion(emotion)]
	return clone(w), ok
}
