package chatdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/stories"
)

// continuations are planted story texts: clean ones, and ones that name an
// emotion (which FeelItem must drop).
var continuations = []string{
	" the sun came out and the birds sang. She ran to the tree and climbed up high. Then she sat down and looked at the sky. The end of the day came",
	" his friend took the red ball and ran away. He sat on the step and did not say a word. Mom came out and gave him a hug, and",
	" the dog next door barked very loud. She hid under the bed and held her teddy tight. \"Go away, dog!\" she said. The dog",
	" he was very happy to see his mom. He ran to her and gave her a big hug. Then they went home",     // names happy
	" she felt sad and alone at the park. She sat on the bench and looked at the ground. Then her dad", // names sad (and lonely: alone)
	" short.", // too short
}

// synthStories makes n base-style emotional stories with real openings
// (stories.BaseOpening) and planted continuations.
func synthStories(n int) []stories.Story {
	emotions := []string{"happy", "sad", "scared", "calm"}
	topics := []string{"{name} found a lost puppy in the park", "{name} went to the zoo with mom and dad"}
	var out []stories.Story
	for i := 0; i < n; i++ {
		k := stories.Key{Kind: stories.Emotional, Emotion: emotions[i%len(emotions)], Topic: topics[(i/4)%2], Index: i}
		id := k.ID()
		seed := stories.TaskSeed(7, id)
		prefix := stories.BaseOpening(nil, k.Emotion, k.Topic, seed)
		out = append(out, stories.Story{ID: id, Kind: k.Kind, Emotion: k.Emotion, Topic: k.Topic, Index: i,
			Prefix: prefix, Text: continuations[(i*7/3)%len(continuations)], Generator: "test", Seed: seed})
	}
	return out
}

func jsonlBytes(t *testing.T, ds []Dialogue) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "d.jsonl")
	if err := WriteJSONL(p, ds); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuildDeterministic checks that the same stories (in any order) and
// seed give the same bytes, and another seed other bytes.
func TestBuildDeterministic(t *testing.T) {
	ss := synthStories(120)
	rev := slices.Clone(ss)
	slices.Reverse(rev)
	a, err := Build(ss, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(rev, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Build(ss, Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Train) == 0 || len(a.HeldOut) == 0 {
		t.Fatalf("got %d train and %d held-out dialogues, want some of each", len(a.Train), len(a.HeldOut))
	}
	if ta, tb := jsonlBytes(t, a.Train), jsonlBytes(t, b.Train); !bytes.Equal(ta, tb) {
		t.Error("train JSONL differs between two builds with the same seed")
	}
	if ha, hb := jsonlBytes(t, a.HeldOut), jsonlBytes(t, b.HeldOut); !bytes.Equal(ha, hb) {
		t.Error("held-out JSONL differs between two builds with the same seed")
	}
	if bytes.Equal(jsonlBytes(t, a.Train), jsonlBytes(t, c.Train)) {
		t.Error("seeds 3 and 4 gave the same train JSONL")
	}
}

// TestBuildSplitAndMixture checks that held-out stories give no training
// dialogue, the counts add up, and the mixture options act.
func TestBuildSplitAndMixture(t *testing.T) {
	ss := synthStories(200)
	set, err := Build(ss, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, it := range set.HeldOutItems {
		held[it.ID] = true
	}
	kinds := map[Kind]int{}
	for _, d := range set.Train {
		kinds[d.Kind]++
		if held[d.Source] {
			t.Errorf("held-out story %s gives a training dialogue", d.Source)
		}
		if len(d.Messages) != 2 || d.Messages[0].Role != "user" || d.Messages[1].Role != "assistant" {
			t.Errorf("dialogue from %s: roles %v, want user then assistant", d.Source, d.Messages)
		}
	}
	c := set.Counts
	t.Logf("counts %+v", c)
	if kinds[KindFeel] != c.Feel || kinds[KindStory] != c.Story || kinds[KindNeutral] != c.Neutral {
		t.Errorf("train kinds %v, counts %+v: want them equal", kinds, c)
	}
	if got, want := len(set.HeldOutItems), c.FeelHeldOut; got != want || want == 0 {
		t.Errorf("held-out items: got %d, want %d (> 0)", got, want)
	}
	dropped := 0
	for _, n := range c.Dropped {
		dropped += n
	}
	if got, want := c.Feel+c.FeelHeldOut+dropped, c.Stories; got != want {
		t.Errorf("feel + held-out + dropped = %d, want %d stories", got, want)
	}
	if f := float64(c.HeldOut) / float64(c.Stories); !(f > 0.05 && f < 0.3) {
		t.Errorf("held-out fraction %.3f, want near %.2f", f, DefaultHeldOut)
	}
	if f := float64(c.Neutral) / float64(len(set.Train)); !(f > 0.03 && f < 0.07) {
		t.Errorf("neutral fraction %.3f, want near %.2f", f, DefaultNeutral)
	}

	none, err := Build(ss, Options{Seed: 1, HeldOut: -1, StoryRequests: -1, Neutral: -1})
	if err != nil {
		t.Fatal(err)
	}
	if none.Counts.HeldOut != 0 || none.Counts.Story != 0 || none.Counts.Neutral != 0 || none.Counts.Feel == 0 {
		t.Errorf("negative fractions: counts %+v, want only feel dialogues", none.Counts)
	}
	for _, bad := range []Options{{HeldOut: 1}, {Neutral: 1.5}, {StoryRequests: nan()}} {
		if _, err := Build(ss, bad); err == nil {
			t.Errorf("Build with %+v: no error", bad)
		}
	}
}

func nan() float64 { var z float64; return z / z }

// TestShownStoriesNeverNameTheirEmotion checks every feel dialogue and item
// that Build makes: the story shown contains no word of its own emotion's
// list, held-out ones no emotion word at all, and the name occurs in it.
func TestShownStoriesNeverNameTheirEmotion(t *testing.T) {
	for _, allow := range []bool{false, true} {
		set, err := Build(synthStories(200), Options{Seed: 2, AllowOtherWords: allow})
		if err != nil {
			t.Fatal(err)
		}
		if set.Counts.Dropped[errNamesOwn.Error()] == 0 {
			t.Errorf("allow=%v: no story dropped for naming its emotion; the planted ones should be", allow)
		}
		n := 0
		for _, d := range set.Train {
			if d.Kind != KindFeel {
				continue
			}
			n++
			story, q, _ := strings.Cut(d.Messages[0].Content, "\n\nHow does ")
			name := strings.TrimSuffix(q, " feel?")
			emotion := strings.TrimSuffix(strings.TrimPrefix(d.Messages[1].Content, name+" feels "), ".")
			if slices.Contains(catalog.NamedEmotions(story), emotion) {
				t.Errorf("allow=%v: %s: story shown names %q: %q", allow, d.Source, emotion, story)
			}
			if !containsWord(story, name) {
				t.Errorf("allow=%v: %s: name %q not in %q", allow, d.Source, name, story)
			}
		}
		if n == 0 {
			t.Fatalf("allow=%v: no feel dialogues", allow)
		}
		for _, it := range set.HeldOutItems {
			if err := it.Check(); err != nil {
				t.Errorf("allow=%v: %v", allow, err)
			}
		}
	}
}

func TestFeelItem(t *testing.T) {
	mk := func(prefix, text string) *stories.Story {
		return &stories.Story{ID: "e-1", Kind: stories.Emotional, Emotion: "happy", Topic: "t", Prefix: prefix, Text: text}
	}
	opening := "Once upon a time, there was a little girl named Lily. One day, Lily found a lost puppy in the park. Lily felt very happy because"
	tests := []struct {
		name      string
		s         *stories.Story
		wantErr   error
		wantName  string
		wantStory string
	}{
		{"clean", mk(opening, ` the puppy licked her hand. She said, "Let's play!" They ran to the`), nil, "Lily",
			`Once upon a time, there was a little girl named Lily. One day, Lily found a lost puppy in the park. The puppy licked her hand. She said, "Let's play!"`},
		{"open quote closed", mk(opening, ` the puppy licked her hand. She said, "Let us play now. We can`), nil, "Lily",
			`Once upon a time, there was a little girl named Lily. One day, Lily found a lost puppy in the park. The puppy licked her hand. She said, "Let us play now."`},
		{"own word", mk(opening, " she was glad to have a new friend. They played all day in the"), errNamesOwn, "", ""},
		{"other word", mk(opening, " the puppy was sad and cold. She took it home and gave it milk. Then"), errNamesOther, "", ""},
		{"short", mk(opening, " it was nice. Then"), errShort, "", ""},
		{"no prefix", mk("", "Lily found a puppy and played with it all day long in the park."), errNoOpening, "", ""},
		{"odd opening", mk("Lily found a puppy. It was a sunny day", " they played all day long in the park. Then"), errOpening, "", ""},
		{"neutral", &stories.Story{ID: "n-1", Kind: stories.Neutral, Prefix: opening, Text: " x"}, errNotEmotional, "", ""},
	}
	for _, tt := range tests {
		it, err := FeelItem(tt.s)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if it.Name != tt.wantName || it.Story != tt.wantStory || it.Emotion != "happy" {
			t.Errorf("%s: got %+v, want name %q story %q", tt.name, it, tt.wantName, tt.wantStory)
		}
		if err := it.Check(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestNeutralExchangesNameNoEmotion checks the fixed neutral list.
func TestNeutralExchangesNameNoEmotion(t *testing.T) {
	for i, q := range neutralExchanges {
		if got := catalog.NamedEmotions(q[0] + " " + q[1]); len(got) > 0 {
			t.Errorf("neutral exchange %d names %v: %q", i+1, got, q)
		}
	}
}

func TestItemsRoundTrip(t *testing.T) {
	items, err := HandItems()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "items.jsonl")
	if err := WriteItems(p, items[:5]); err != nil {
		t.Fatal(err)
	}
	got, err := ReadItems(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, items[:5]) {
		t.Errorf("round trip: got %+v, want %+v", got, items[:5])
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	line := `{"id":"x","name":"Max","emotion":"happy","story":"Max was happy."}`
	if err := os.WriteFile(bad, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadItems(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s:1:", bad)) {
		t.Errorf("an item whose story names its emotion: err = %v, want one naming %s:1", err, bad)
	}
}

// TestHandItems checks the hand-written set: every story has a character
// name that occurs in its text.
func TestHandItems(t *testing.T) {
	items, err := HandItems()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(items), len(catalog.Handwritten()); got != want || want == 0 {
		t.Fatalf("got %d items, want %d", got, want)
	}
	for _, it := range items {
		if !containsWord(it.Story, it.Name) {
			t.Errorf("%s: name %q not in %q", it.ID, it.Name, it.Story)
		}
	}
}

func TestContainsWord(t *testing.T) {
	tests := []struct {
		text, w string
		want    bool
	}{
		{"Max ran.", "Max", true},
		{"It was Max's ball.", "Max", true},
		{"Maxine ran.", "Max", false},
		{"The old bear woke up.", "the old bear", true},
		{"The old bears woke up.", "the old bear", false},
		{"max ran.", "Max", false},
		{"", "Max", false},
	}
	for _, tt := range tests {
		if got := containsWord(tt.text, tt.w); got != tt.want {
			t.Errorf("containsWord(%q, %q) = %v, want %v", tt.text, tt.w, got, tt.want)
		}
	}
}

// TestWriteDir checks that the written files read back: the training lines
// are exactly {"messages":[…]} and the items pass ReadItems.
func TestWriteDir(t *testing.T) {
	set, err := Build(synthStories(80), Options{Seed: 9, HeldOut: 0.4})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "chat")
	if err := set.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, TrainFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(set.Train) {
		t.Fatalf("%d train lines, want %d", len(lines), len(set.Train))
	}
	for i, l := range lines {
		var v map[string][]map[string]string
		dec := json.NewDecoder(strings.NewReader(l))
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		msgs, ok := v["messages"]
		if len(v) != 1 || !ok || len(msgs) != 2 || msgs[1]["content"] != set.Train[i].Messages[1].Content {
			t.Fatalf("line %d: %s, want only messages, as in the set", i+1, l)
		}
	}
	for name, want := range map[string]int{HeldOutFile: len(set.HeldOutItems), HandItemsFile: len(catalog.Handwritten())} {
		items, err := ReadItems(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != want || want == 0 {
			t.Errorf("%s: %d items, want %d", name, len(items), want)
		}
	}
}
