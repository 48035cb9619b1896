package chatdata

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/stories"
)

// Item is one feel question: a story that conveys Emotion without naming it,
// and the name of its character. JSON field names are the held-out file's
// format.
type Item struct {
	ID      string `json:"id"`      // the story's ID
	Name    string `json:"name"`    // the character, as written in Story
	Emotion string `json:"emotion"` // the story's label
	Story   string `json:"story"`
}

// Question returns the human's question about name: "How does NAME feel?".
func Question(name string) string { return "How does " + name + " feel?" }

// Answer returns the assistant's one-sentence answer: "NAME feels EMOTION."
// (the name's first letter capitalised: "The old bear feels angry.").
func Answer(name, emotion string) string { return upperFirst(name) + " feels " + emotion + "." }

// Prompt returns the user message of it: the story, a blank line, and the
// question.
func (it Item) Prompt() string { return it.Story + "\n\n" + Question(it.Name) }

// Dialogue returns it as a feel dialogue with its answer.
func (it Item) Dialogue() Dialogue {
	return Dialogue{Kind: KindFeel, Source: it.ID, Messages: turns(it.Prompt(), Answer(it.Name, it.Emotion))}
}

// Check reports an item that cannot be asked: an empty field, a name that
// does not occur in the story as a whole word, or a story that contains a
// word of any emotion's list (catalog.EmotionWords).
func (it Item) Check() error {
	switch {
	case it.ID == "" || it.Name == "" || it.Emotion == "" || strings.TrimSpace(it.Story) == "":
		return fmt.Errorf("feel item %q: empty id, name, emotion or story", it.ID)
	case !containsWord(it.Story, it.Name):
		return fmt.Errorf("feel item %s: name %q does not occur in the story", it.ID, it.Name)
	}
	if named := catalog.NamedEmotions(it.Story); len(named) > 0 {
		return fmt.Errorf("feel item %s: the story names %v", it.ID, named)
	}
	return nil
}

// Reasons a story gives no feel item.
var (
	errNotEmotional = errors.New("not an emotional story")
	errNoOpening    = errors.New("no base-model opening (prefix) to take the name from")
	errOpening      = errors.New("the opening's last sentence is not NAME ... EMOTION because")
	errShort        = errors.New("continuation shorter than a full sentence of 6 words")
	errNamesOwn     = errors.New("shown story names its own emotion or a synonym")
	errNamesOther   = errors.New("shown story names another emotion")
	errNoList       = errors.New("no word list for the emotion (catalog.EmotionWords)")
)

var nameRE = regexp.MustCompile(`^\p{Lu}\p{Ll}+$`)

// FeelItem makes the feel question of a base-style emotional story (one
// whose Prefix is an opening such as "... One day, Max found a lost puppy.
// Max felt happy because"): the name is the subject of the opening's last
// sentence, which names the emotion and is left out; the story shown is the
// rest of the opening and the continuation, cut at its last full sentence,
// first letter capitalised. The error says why a story is not usable (it
// then gives no item): not emotional, no opening, an opening of another
// shape, a continuation too short, or a shown text containing an emotion
// word (catalog.EmotionWords; any emotion's, so that "she was not sad" does
// not give a happy story away).
func FeelItem(s *stories.Story) (Item, error) { return feelItem(s, false) }

// feelItem is FeelItem; allowOther keeps a story that names only other
// emotions than its own (and none of their shared synonyms).
func feelItem(s *stories.Story, allowOther bool) (Item, error) {
	if s.Kind != stories.Emotional || s.Emotion == "" {
		return Item{}, errNotEmotional
	}
	if _, ok := catalog.EmotionWords(s.Emotion); !ok {
		return Item{}, errNoList
	}
	setup, last, ok := splitLastSentence(s.Prefix)
	if !ok {
		return Item{}, errNoOpening
	}
	name, _, _ := strings.Cut(last, " ")
	if !nameRE.MatchString(name) || !strings.HasSuffix(last, " because") ||
		!strings.Contains(last, s.Emotion) || !containsWord(setup, name) {
		return Item{}, errOpening
	}
	cont := fullSentences(s.Text)
	if len(strings.Fields(cont)) < 6 {
		return Item{}, errShort
	}
	shown := openingRewrites.Replace(setup) + " " + upperFirst(cont)
	if named := catalog.NamedEmotions(shown); len(named) > 0 {
		if slices.Contains(named, s.Emotion) || sharesWord(s.Emotion, named) {
			return Item{}, errNamesOwn
		}
		if !allowOther {
			return Item{}, errNamesOther
		}
	}
	return Item{ID: s.ID, Name: name, Emotion: s.Emotion, Story: shown}, nil
}

// openingRewrites replace the words of stories.EmotionalOpenings that are on
// an emotion's list ("loved" is on loving's) with plain ones. The template is
// chosen by seed, not by emotion, so the word carries no label, but a shown
// story must contain no emotion word at all.
var openingRewrites = strings.NewReplacer(" who loved to play outside.", " who liked to play outside.")

// sharesWord reports whether a word of emotion's list is on the list of an
// emotion in named (scared and afraid share "fear"): such a story names its
// own emotion through a synonym.
func sharesWord(emotion string, named []string) bool {
	own, _ := catalog.EmotionWords(emotion)
	for _, e := range named {
		other, _ := catalog.EmotionWords(e)
		for _, w := range other {
			if slices.Contains(own, w) {
				return true
			}
		}
	}
	return false
}

// splitLastSentence cuts an opening into everything before its last
// sentence and the last sentence (both trimmed); ok is false when there are
// not two sentences.
func splitLastSentence(prefix string) (setup, last string, ok bool) {
	p := strings.TrimSpace(prefix)
	i := strings.LastIndex(p, ". ")
	if i < 0 {
		return "", "", false
	}
	setup, last = strings.TrimSpace(p[:i+1]), strings.TrimSpace(p[i+2:])
	return setup, last, setup != "" && last != ""
}

// fullSentences trims text and cuts it after its last sentence end (. ! or
// ?, with a closing quote when one follows, or added when the cut leaves a
// quotation open); "" when there is none.
func fullSentences(text string) string {
	t := strings.TrimSpace(text)
	end := strings.LastIndexAny(t, ".!?")
	if end < 0 {
		return ""
	}
	end++
	if end < len(t) && t[end] == '"' {
		end++
	}
	t = strings.TrimSpace(t[:end])
	if strings.Count(t, `"`)%2 == 1 && !strings.HasSuffix(t, `"`) {
		t += `"` // the last sentence ended inside a quotation left open
	}
	return t
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// containsWord reports whether w occurs in text as a whole word or phrase:
// case-sensitively for a name ("Max", also in "Max's"), case-insensitively
// for a phrase that starts in lower case ("the old bear").
func containsWord(text, w string) bool {
	if w == "" {
		return false
	}
	flags := ""
	if r, _ := utf8.DecodeRuneInString(w); unicode.IsLower(r) {
		flags = "(?i)"
	}
	re, err := regexp.Compile(flags + `(^|[^\p{L}])` + regexp.QuoteMeta(w) + `($|[^\p{L}])`)
	return err == nil && re.MatchString(text)
}
