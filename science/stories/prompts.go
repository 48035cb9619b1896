package stories

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Style is how stories are asked for.
type Style string

// The prompt styles.
const (
	// StyleChat sends the paper's prompt (paraphrased) as chat messages and
	// asks for several stories per request, each after a "[story N]" marker.
	StyleChat Style = "chat"
	// StyleBase gives a base model a story opening that sets up the
	// character's emotion; the continuation is the story, the opening its
	// Prefix. One story per request.
	StyleBase Style = "base"
	// StyleRequest is for chat models whose context is too short for the
	// paper's prompt (stories15m-chat): one story per request, asked for in
	// a single user turn that names a character, the emotion and the topic
	// (ChatRequest), rendered through the model's template by
	// Config.Render. The rendered turn is the story's Prefix, as an opening
	// is for StyleBase.
	StyleRequest Style = "request"
)

// ParseStyle parses "chat", "base" or "request".
func ParseStyle(s string) (Style, error) {
	switch Style(strings.ToLower(strings.TrimSpace(s))) {
	case StyleChat:
		return StyleChat, nil
	case StyleBase:
		return StyleBase, nil
	case StyleRequest:
		return StyleRequest, nil
	}
	return "", fmt.Errorf("unknown prompt style %q (want chat, base or request)", s)
}

// EmotionalStoriesPrompt returns the system and user messages asking for n
// stories on topic in which a character feels emotion, without the emotion
// ever being named. This is limbic's paraphrase of the paper's "Emotional
// stories prompt" (Appendix, Dataset generation).
func EmotionalStoriesPrompt(emotion, topic string, n int) []Message {
	sys := fmt.Sprintf(`Write %d different short stories on the topic below. Every story follows a character who is feeling %s.

Topic: %s

Format: begin each story with its own marker line, "[story 1]", "[story 2]" and so on. Each story is a single paragraph and starts afresh: no characters or events carry over from one story to another. Vary the wording and the structure, and write some stories in the first person and some in the third person.

A rule that must never be broken: do not use the word "%s" or any direct synonym of it, anywhere. The reader should infer the feeling only from
- what the character does,
- bodily sensations and body language,
- what the character says and the way they say it,
- the character's thoughts and inner reactions,
- details of the situation and the surroundings.
The feeling must be unmistakable, yet never named.`, n, emotion, topic, emotion)
	return []Message{{Role: "system", Content: sys}, {Role: "user", Content: fmt.Sprintf("Write the %d stories now.", n)}}
}

// NeutralDialoguesPrompt returns messages asking for n emotionless dialogues
// between a person and an AI assistant, seeded by topic: limbic's paraphrase
// of the paper's neutral-dialogue prompt. Turns are tagged "Person:" and
// "AI:"; CleanDialogue renames them "Human:" and "Assistant:" as the paper did.
func NeutralDialoguesPrompt(topic string, n int) []Message {
	sys := fmt.Sprintf(`Write %d different dialogues between "Person" (a human) and "AI" (an AI assistant), loosely seeded by the topic below.

Topic: %s

Person asks a question or asks for help, and AI helps. Person always speaks first. A dialogue has between 2 and 6 exchanges, and some have only one. Put a blank line before every turn and begin each turn with "Person:" or "AI:". Some dialogues, not all, open with a short system prompt on its own line, without a speaker tag. Mix the kinds of request: code and programming; facts from science, history, mathematics or geography; work tasks such as writing, analysis or summaries; practical how-to questions; and neutral creative tasks such as brainstorming names or making lists.

Begin each dialogue with its own marker line, "[dialogue 1]", "[dialogue 2]" and so on.

Most important: the dialogues are completely neutral and free of emotion. Neither speaker expresses or mentions feelings, no system prompt asks for any emotion, emotionally charged subjects are avoided, and the language is plain and matter-of-fact, with no pleasantries or enthusiasm such as "I'd be happy to help" or "Great question!".`, n, topic)
	return []Message{{Role: "system", Content: sys}, {Role: "user", Content: fmt.Sprintf("Write the %d dialogues now.", n)}}
}

var markerRE = regexp.MustCompile(`(?im)^[ \t#*_>]*\[\s*(?:story|dialogue)\s*(\d+)\s*\][ \t*_:]*`)

// ParseMulti splits a multi-story answer at its "[story N]" or
// "[dialogue N]" marker lines (markdown decorations tolerated) and returns
// the non-empty texts in order. An answer without markers is returned whole
// when want is 1 and dropped otherwise; text before the first marker is
// dropped.
func ParseMulti(out string, want int) []string {
	locs := markerRE.FindAllStringIndex(out, -1)
	if len(locs) == 0 {
		if t := strings.TrimSpace(out); t != "" && want == 1 {
			return []string{t}
		}
		return nil
	}
	var texts []string
	for i, loc := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if t := strings.TrimSpace(out[loc[1]:end]); t != "" {
			texts = append(texts, t)
		}
	}
	return texts
}

var speakerRE = regexp.MustCompile(`(?m)^([ \t*]*)(Person|AI)([ \t*]*):`)

// CleanDialogue renames the "Person:" and "AI:" turn tags of a generated
// dialogue to "Human:" and "Assistant:".
func CleanDialogue(s string) string {
	return speakerRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := speakerRE.FindStringSubmatch(m)
		who := "Human"
		if sub[2] == "AI" {
			who = "Assistant"
		}
		return sub[1] + who + sub[3] + ":"
	})
}

// Names for base-model openings, in the style of TinyStories.
var (
	girlNames = []string{"Lily", "Mia", "Sue", "Anna", "Lucy", "Emma", "Sara", "Amy"}
	boyNames  = []string{"Tim", "Ben", "Tom", "Max", "Sam", "Jack", "Leo", "Joe"}
)

// emotionalOpenings end in "because": the base model goes on to say why the
// character feels so, which keeps its first tokens about the emotion. On
// stories15M (16 core emotions, 32 topics × 2 stories of 40 tokens, offset 0,
// layer 3) this beat the same openings ending in "." on every measure:
// held-out top-1 37% vs 36% denoised and 29% vs 24% raw, PC1 sign agreement
// 94% vs 88%, k-means ARI 0.31 vs 0.17.
var emotionalOpenings = []string{
	"Once upon a time, there was a little {kind} named {name}. One day, {topic}. {name} felt {very}{emotion} because",
	"There once was a {kind} called {name} who lived in a small house with a big garden. One day, {topic}. {name} was {so}{emotion} because",
	"{name} was a little {kind} who loved to play outside. One day, {topic}. {name} felt {emotion} because",
	"Once upon a time, in a little town, there lived a {kind} named {name}. One morning, {topic}. {name} felt {very}{emotion} because",
}

var neutralOpenings = []string{
	"Once upon a time, there was a little {kind} named {name}. One day, {topic}.",
	"{name} lived in a small house on a quiet street. One morning, {topic}.",
	"This is a story about a {kind} named {name}. One day, {topic}. First,",
	"{name} was a little {kind}. Every day, {name} did the same things. One day, {topic}.",
}

// Opening sets for base models, by name (OpeningSet): the study of
// `limbic experiment scaling` compares them.
var (
	// firstPersonOpenings tell the story as the character ("I felt sad
	// because"); {my-topic} is the topic in the first person.
	firstPersonOpenings = []string{
		"My name is {name} and I am a little {kind}. One day, {my-topic}. I felt {very}{emotion} because",
		"I am {name}. I live in a small house with a big garden. One day, {my-topic}. I was {so}{emotion} because",
	}
	// dialogueOpenings have the character say how they feel and go on in
	// their own words, so the story continues as dialogue.
	dialogueOpenings = []string{
		"Once upon a time, there was a little {kind} named {name}. One day, {topic}. {name} said to Mom, \"I feel {very}{emotion}!\" Mom asked, \"Why?\" {name} said, \"Because",
		"{name} was a little {kind} who loved to play outside. One day, {topic}. {name} ran to a friend and said, \"I am {so}{emotion} because",
	}
	// periodOpenings close the emotion sentence with a full stop, leaving
	// the model to go on as it likes.
	periodOpenings = []string{
		"Once upon a time, there was a little {kind} named {name}. One day, {topic}. {name} felt {very}{emotion}.",
		"{name} was a little {kind} who loved to play outside. One day, {topic}. {name} felt {emotion}.",
	}
)

// OpeningSets are the names OpeningSet accepts, the default first.
var OpeningSets = []string{"because", "first-person", "dialogue", "period", "mixed"}

// OpeningSet returns a named set of emotional-opening templates for base
// models: "because" (the default, EmotionalOpenings), "first-person",
// "dialogue", "period" (the emotion sentence closed), or "mixed" (because,
// first-person and dialogue together).
func OpeningSet(name string) ([]string, error) {
	switch name {
	case "", "because":
		return EmotionalOpenings(), nil
	case "first-person":
		return slices.Clone(firstPersonOpenings), nil
	case "dialogue":
		return slices.Clone(dialogueOpenings), nil
	case "period":
		return slices.Clone(periodOpenings), nil
	case "mixed":
		return slices.Concat(emotionalOpenings, firstPersonOpenings, dialogueOpenings), nil
	}
	return nil, fmt.Errorf("unknown opening set %q (want one of %s)", name, strings.Join(OpeningSets, ", "))
}

// emotionPhrase fixes the few paper words that do not read after "felt".
var emotionPhrase = map[string]string{"hope": "full of hope"}

// EmotionalOpenings returns the default story-opening templates for base
// models. Placeholders: {kind} (girl or boy), {name}, {topic}, {emotion},
// {very} ("very " unless the emotion has several words) and {so} (likewise
// "so ").
func EmotionalOpenings() []string { return append([]string(nil), emotionalOpenings...) }

// NeutralOpenings returns the default neutral-narration templates ({kind},
// {name}, {topic}).
func NeutralOpenings() []string { return append([]string(nil), neutralOpenings...) }

// BaseOpening returns the story opening a base model continues: a character
// (name and gender chosen by seed), the topic, and a sentence giving the
// character's emotion, left open ("... Lily felt very sad because"). The template is also chosen by seed, from templates
// (nil: EmotionalOpenings).
func BaseOpening(templates []string, emotion, topic string, seed uint64) string {
	if len(templates) == 0 {
		templates = emotionalOpenings
	}
	phrase, ok := emotionPhrase[emotion]
	if !ok {
		phrase = emotion
	}
	very, so := "very ", "so "
	if strings.ContainsAny(phrase, " ") { // "at ease", "worn out", "full of hope"
		very, so = "", ""
	}
	t := templates[pick(seed, 0, len(templates))]
	return fill(t, topic, seed, "{emotion}", phrase, "{very}", very, "{so}", so)
}

// BaseNeutralOpening returns a plain narration opening for neutral texts with
// base models: a character and an everyday activity, no feelings. Templates
// nil means NeutralOpenings.
func BaseNeutralOpening(templates []string, topic string, seed uint64) string {
	if len(templates) == 0 {
		templates = neutralOpenings
	}
	t := templates[pick(seed, 0, len(templates))]
	return fill(t, topic, seed)
}

func fill(tmpl, topic string, seed uint64, extra ...string) string {
	kind, names := "girl", girlNames
	if pick(seed, 1, 2) == 1 {
		kind, names = "boy", boyNames
	}
	name := names[pick(seed, 2, len(names))]
	topic = strings.TrimRight(strings.TrimSpace(topic), ".!")
	mine := lowerFirst(firstPerson(topic))
	if strings.Contains(topic, "{name}") {
		topic = strings.ReplaceAll(topic, "{name}", name)
	} else {
		topic = lowerFirst(topic)
	}
	args := append([]string{"{kind}", kind, "{name}", name, "{topic}", topic, "{my-topic}", mine}, extra...)
	return strings.NewReplacer(args...).Replace(tmpl)
}

// firstPerson puts a topic about {name} in the first person: "{name}'s"
// becomes "my", a leading "{name}" "I", any other "{name}" "me".
func firstPerson(topic string) string {
	topic = strings.ReplaceAll(topic, "{name}'s", "my")
	if rest, ok := strings.CutPrefix(topic, "{name}"); ok {
		topic = "I" + rest
	}
	return strings.ReplaceAll(topic, "{name}", "me")
}

// lowerFirst lower-cases the first letter of a sentence-like topic ("A tenant
// receives ..." → "a tenant receives ..."), but not of "I" or of an acronym.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) {
		return s
	}
	next, _ := utf8.DecodeRuneInString(s[n:])
	if unicode.IsUpper(next) || (r == 'I' && (next == ' ' || next == '\'')) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// pick draws a deterministic index in [0, n) from a seed and a salt.
func pick(seed uint64, salt uint64, n int) int {
	x := seed + salt*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(n))
}

// RenderMessages writes chat messages as plain text, for the Prompt field of
// a stored story.
func RenderMessages(msgs []Message) string {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(m.Role + ": " + m.Content)
	}
	return b.String()
}

// ChatRequest returns the user turn that asks a short-context chat model for
// a story on topic in which a character (name and gender chosen by seed, as
// for BaseOpening) feels emotion; with emotion "" it asks for a plain story
// (neutral texts). The wording follows the story requests stories15m-chat
// was trained on (science/chatdata).
func ChatRequest(emotion, topic string, seed uint64) string {
	if emotion == "" {
		return fill("Please write a short story about {name}, a little {kind}. One day, {topic}.", topic, seed)
	}
	phrase, ok := emotionPhrase[emotion]
	if !ok {
		phrase = emotion
	}
	return fill("Can you tell me a story where a little {kind} named {name} feels {emotion}? One day, {topic}.", topic, seed, "{emotion}", phrase)
}
