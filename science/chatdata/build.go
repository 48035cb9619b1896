package chatdata

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/stories"
)

// Kind says what a dialogue teaches.
type Kind string

// The kinds of dialogue.
const (
	KindStory   Kind = "story"   // the human asks for a story, the assistant tells it
	KindFeel    Kind = "feel"    // "How does NAME feel?" about a story that never names the feeling
	KindNeutral Kind = "neutral" // a greeting or a simple question
)

// Dialogue is one conversation. Its JSON form is a line of the SFT file:
// {"messages":[…]}; Kind and Source are bookkeeping and not written.
type Dialogue struct {
	Kind     Kind           `json:"-"`
	Source   string         `json:"-"` // the story ID, or "neutral-N"
	Messages []chat.Message `json:"messages"`
}

func turns(user, assistant string) []chat.Message {
	return []chat.Message{{Role: "user", Content: user}, {Role: "assistant", Content: assistant}}
}

// Defaults of Options.
const (
	DefaultHeldOut       = 0.15
	DefaultStoryRequests = 0.5
	DefaultNeutral       = 0.05
)

// Options set the seed and the mixture. A zero fraction means its default;
// a negative one means none.
type Options struct {
	Seed uint64
	// HeldOut is the fraction of emotional stories held out (default
	// DefaultHeldOut): they give no training dialogue.
	HeldOut float64
	// StoryRequests is the fraction of training stories that also give a
	// story-request dialogue (default DefaultStoryRequests); every usable
	// training story gives a feel dialogue.
	StoryRequests float64
	// Neutral is the fraction of the training dialogues that are neutral
	// exchanges (default DefaultNeutral), drawn from a fixed list of about
	// 40, repeating when more are needed.
	Neutral float64
	// AllowOtherWords keeps, for training only, feel stories that contain
	// words of other emotions than their own ("she was not happy" in a sad
	// story). Held-out items always contain no emotion word at all.
	AllowOtherWords bool
}

func (o *Options) defaults() error {
	for _, f := range []struct {
		name string
		v    *float64
		def  float64
	}{{"held-out", &o.HeldOut, DefaultHeldOut}, {"story-request", &o.StoryRequests, DefaultStoryRequests}, {"neutral", &o.Neutral, DefaultNeutral}} {
		switch {
		case math.IsNaN(*f.v) || *f.v >= 1:
			return fmt.Errorf("chatdata: %s fraction %v must be below 1", f.name, *f.v)
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			*f.v = 0
		}
	}
	return nil
}

// Counts says what Build made and what it dropped.
type Counts struct {
	Stories      int            // emotional stories read
	HeldOut      int            // of them held out
	Feel         int            // training feel dialogues
	Story        int            // training story requests
	Neutral      int            // training neutral exchanges
	FeelHeldOut  int            // held-out feel items (and validation feel dialogues)
	StoryHeldOut int            // validation story requests
	Dropped      map[string]int // stories without a feel item, by reason
}

// Set is what Build returns.
type Set struct {
	Train        []Dialogue // shuffled
	HeldOut      []Dialogue // validation dialogues of the held-out stories: feel questions, then story requests
	HeldOutItems []Item     // the feel questions of the held-out stories, by ID
	Counts       Counts
}

// Build makes the SFT dialogues from a base model's labelled stories (the
// pipeline's stories.jsonl; neutral texts in the input are ignored). It is
// seeded and deterministic: the same stories (in any order) and options give
// the same Set. A story is held out when a hash of (seed, ID) falls below
// HeldOut. Every training story gives a feel dialogue when FeelItem accepts
// it, and a story request with probability StoryRequests (only stories with
// a base-model opening, whose opening and continuation form the story);
// neutral exchanges are added to make up the Neutral fraction.
func Build(in []stories.Story, o Options) (*Set, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ss := make([]*stories.Story, 0, len(in))
	seen := map[string]bool{}
	for i := range in {
		s := &in[i]
		if s.Kind != stories.Emotional {
			continue
		}
		if err := s.Check(); err != nil {
			return nil, fmt.Errorf("chatdata: story %d: %w", i+1, err)
		}
		if seen[s.ID] {
			continue // a repeated line of an append-only file
		}
		seen[s.ID] = true
		ss = append(ss, s)
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("chatdata: no emotional stories")
	}
	slices.SortFunc(ss, func(a, b *stories.Story) int { return strings.Compare(a.ID, b.ID) })

	set := &Set{Counts: Counts{Stories: len(ss), Dropped: map[string]int{}}}
	var train []Dialogue
	var heldStories []Dialogue
	for _, s := range ss {
		held := unit(o.Seed, "heldout", s.ID) < o.HeldOut
		if held {
			set.Counts.HeldOut++
		}
		it, err := feelItem(s, o.AllowOtherWords && !held)
		if err != nil {
			set.Counts.Dropped[err.Error()]++
		} else if held {
			set.HeldOutItems = append(set.HeldOutItems, it)
			set.HeldOut = append(set.HeldOut, it.Dialogue())
			set.Counts.FeelHeldOut++
		} else {
			train = append(train, it.Dialogue())
			set.Counts.Feel++
		}
		d, ok := storyRequest(s, o.Seed)
		switch {
		case !ok:
		case held:
			heldStories = append(heldStories, d)
			set.Counts.StoryHeldOut++
		case unit(o.Seed, "story", s.ID) < o.StoryRequests:
			train = append(train, d)
			set.Counts.Story++
		}
	}
	set.HeldOut = append(set.HeldOut, heldStories...)
	if o.Neutral > 0 && len(train) > 0 {
		n := int(math.Round(o.Neutral * float64(len(train)) / (1 - o.Neutral)))
		rng := rand.New(rand.NewPCG(o.Seed, 0x6e657574)) // "neut"
		perm := rng.Perm(len(neutralExchanges))
		for i := 0; i < n; i++ {
			k := perm[i%len(perm)]
			q := neutralExchanges[k]
			train = append(train, Dialogue{Kind: KindNeutral, Source: fmt.Sprintf("neutral-%d", k+1), Messages: turns(q[0], q[1])})
		}
		set.Counts.Neutral = n
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x73687566)) // "shuf"
	rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
	set.Train = train
	return set, nil
}

// storyRequest makes the story-request dialogue of a base-style story: a
// request chosen by (seed, ID) from four phrasings, and the story (opening
// and continuation, cut at the last full sentence). ok is false for a story
// without an opening or the NAME of its last sentence.
func storyRequest(s *stories.Story, seed uint64) (Dialogue, bool) {
	setup, last, ok := splitLastSentence(s.Prefix)
	if !ok {
		return Dialogue{}, false
	}
	name, _, _ := strings.Cut(last, " ")
	if !nameRE.MatchString(name) || !containsWord(setup, name) {
		return Dialogue{}, false
	}
	cont := fullSentences(s.Text)
	if len(strings.Fields(cont)) < 6 {
		return Dialogue{}, false
	}
	story := strings.TrimSpace(s.Prefix) + " " + strings.TrimLeft(cont, " ")
	kind := "child"
	switch {
	case containsWord(setup, "girl"):
		kind = "girl"
	case containsWord(setup, "boy"):
		kind = "boy"
	}
	situation := strings.TrimRight(strings.TrimSpace(s.Topic), ".!")
	if strings.Contains(situation, "{name}") {
		situation = strings.ReplaceAll(situation, "{name}", name)
	} else {
		situation = name + " and " + lowerFirst(situation)
	}
	var req string
	switch int(unit(seed, "request", s.ID) * 4) {
	case 0:
		req = "Tell me a story about how " + situation + "."
	case 1:
		req = "Tell me a story about a " + kind + " named " + name + " who feels " + s.Emotion + "."
	case 2:
		req = "Can you tell me a story where " + situation + " and " + name + " feels " + s.Emotion + "?"
	default:
		req = "Please write a short story about " + name + ". One day, " + situation + "."
	}
	return Dialogue{Kind: KindStory, Source: s.ID, Messages: turns(req, story)}, true
}

func lowerFirst(s string) string {
	if s == "" || strings.HasPrefix(s, "I ") {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// unit draws a number in [0, 1) from (seed, salt, id).
func unit(seed uint64, salt, id string) float64 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return float64(binary.LittleEndian.Uint64(h.Sum(nil))>>11) / (1 << 53)
}

// WriteJSONL writes dialogues to path, one {"messages":[…]} line each, through
// a temporary file renamed into place (no half-written file on error).
func WriteJSONL(path string, ds []Dialogue) error {
	return writeLines(path, len(ds), func(i int) any { return ds[i] })
}

// WriteItems writes feel items to path as JSONL ({"id","name","emotion",
// "story"} per line), atomically as WriteJSONL does.
func WriteItems(path string, items []Item) error {
	return writeLines(path, len(items), func(i int) any { return items[i] })
}

func writeLines(path string, n int, at func(int) any) error {
	err := atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w) // w is buffered

		enc.SetEscapeHTML(false)
		for i := 0; i < n; i++ {
			if err := enc.Encode(at(i)); err != nil {
				return fmt.Errorf("line %d: %w", i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chatdata: %s: %w", path, err)
	}
	return nil
}

// ReadItems reads a file written by WriteItems; a bad line is an error
// naming the file and line, and every item must pass Item.Check.
func ReadItems(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 4<<20)
	var out []Item
	for line := 1; sc.Scan(); line++ {
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var it Item
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&it); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if err := it.Check(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// The files WriteDir writes.
const (
	TrainFile     = "train.jsonl"        // Set.Train, {"messages":…} lines for `limbic tune`
	ValidFile     = "valid.jsonl"        // Set.HeldOut, the validation dialogues
	HeldOutFile   = "feel-heldout.jsonl" // Set.HeldOutItems, for Feel (ReadItems)
	HandItemsFile = "feel-hand.jsonl"    // HandItems, for Feel (ReadItems)
)

// WriteDir writes the set's files into dir (created if missing): TrainFile,
// ValidFile, HeldOutFile and HandItemsFile, each atomically.
func (s *Set) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("chatdata: %w", err)
	}
	hand, err := HandItems()
	if err != nil {
		return err
	}
	if err := WriteJSONL(filepath.Join(dir, TrainFile), s.Train); err != nil {
		return err
	}
	if err := WriteJSONL(filepath.Join(dir, ValidFile), s.HeldOut); err != nil {
		return err
	}
	if err := WriteItems(filepath.Join(dir, HeldOutFile), s.HeldOutItems); err != nil {
		return err
	}
	return WriteItems(filepath.Join(dir, HandItemsFile), hand)
}
