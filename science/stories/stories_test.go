package stories

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestKeyID(t *testing.T) {
	a := Key{Kind: Emotional, Emotion: "happy", Topic: "x", Index: 0}
	tests := []struct {
		name string
		k    Key
	}{
		{"index", Key{Kind: Emotional, Emotion: "happy", Topic: "x", Index: 1}},
		{"emotion", Key{Kind: Emotional, Emotion: "sad", Topic: "x", Index: 0}},
		{"topic", Key{Kind: Emotional, Emotion: "happy", Topic: "y", Index: 0}},
		{"kind", Key{Kind: Neutral, Emotion: "happy", Topic: "x", Index: 0}},
		{"field boundary", Key{Kind: Emotional, Emotion: "happ", Topic: "yx", Index: 0}},
	}
	for _, tt := range tests {
		if tt.k.ID() == a.ID() {
			t.Errorf("%s: same ID %s", tt.name, a.ID())
		}
	}
	if got := a.ID(); got != a.ID() || len(got) != 18 || !strings.HasPrefix(got, "e-") {
		t.Errorf("ID = %q", got)
	}
	if got := (Key{Kind: Neutral, Topic: "x"}).ID(); !strings.HasPrefix(got, "n-") {
		t.Errorf("neutral ID = %q", got)
	}
}

func TestSplitOf(t *testing.T) {
	n, held := 20000, 0
	for i := 0; i < n; i++ {
		id := Key{Kind: Emotional, Emotion: "e", Topic: "t", Index: i}.ID()
		s := SplitOf(id, 0.2)
		if s != SplitOf(id, 0.2) {
			t.Fatal("SplitOf is not deterministic")
		}
		if s == HeldOut {
			held++
		}
	}
	if f := float64(held) / float64(n); !(f >= 0.18 && f <= 0.22) {
		t.Errorf("held-out fraction %.3f, want about 0.2", f)
	}
	if SplitOf("x", 0) != Train || SplitOf("x", 1) != HeldOut {
		t.Error("SplitOf at 0 or 1")
	}
}

func mkStory(i int) Story {
	k := Key{Kind: Emotional, Emotion: "happy", Topic: "a lost puppy", Index: i}
	return Story{ID: k.ID(), Kind: k.Kind, Emotion: k.Emotion, Topic: k.Topic, Index: i,
		Text: fmt.Sprintf("story number %d, with \"quotes\" and a\nnewline", i), Generator: "test", Seed: uint64(i)}
}

func TestStoreRoundTripAndTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append([]Story{mkStory(0), mkStory(1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append([]Story{mkStory(1)}); err == nil {
		t.Error("appending a stored ID: no error")
	}
	if _, err := OpenStore(path); err == nil {
		t.Error("second writer on the same file: no error")
	}
	s.Close()

	// A crash in the middle of the next write leaves a torn line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"e-00","kind":"emotion","emo`)
	f.Close()
	before, _ := os.ReadFile(path)

	got, err := ReadAll(path) // readers skip the torn line without touching the file
	if err != nil || len(got) != 2 {
		t.Fatalf("ReadAll: %d stories, %v", len(got), err)
	}
	if got[1].Text != mkStory(1).Text {
		t.Errorf("text round trip: %q", got[1].Text)
	}
	if after, _ := os.ReadFile(path); !reflect.DeepEqual(before, after) {
		t.Error("ReadAll modified the file")
	}

	s, err = OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || !s.Has(mkStory(0).ID) || s.Repaired != len(`{"id":"e-00","kind":"emotion","emo`) {
		t.Errorf("reopen: len %d, repaired %d", s.Len(), s.Repaired)
	}
	if err := s.Append([]Story{mkStory(2)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, err = ReadAll(path)
	if err != nil || len(got) != 3 || got[2].Index != 2 {
		t.Fatalf("after repair: %d stories, %v", len(got), err)
	}
}

func TestStoreBadInput(t *testing.T) {
	dir := t.TempDir()
	good := `{"id":"a","kind":"emotion","emotion":"sad","topic":"t","index":0,"text":"x","generator":"g","seed":1}`
	tests := []struct {
		name, content string
		wantOpenErr   string
		wantLen       int
	}{
		{"empty", "", "", 0},
		{"corrupt middle", good + "\nnot json\n" + strings.Replace(good, `"a"`, `"b"`, 1) + "\n", "line 2", 0},
		{"bad last complete line is torn", good + "\nnot json\n", "", 1},
		{"no final newline", good, "", 1},
		{"blank lines", "\n" + good + "\n\n", "", 1},
		{"unknown kind", strings.Replace(good, `"emotion","emotion"`, `"weird","emotion"`, 1) + "\n" + good + "\n", "unknown kind", 0},
		{"duplicate ids", good + "\n" + good + "\n", "", 1},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".jsonl")
		os.WriteFile(path, []byte(tt.content), 0o644)
		s, err := OpenStore(path)
		if tt.wantOpenErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantOpenErr) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantOpenErr)
			}
			if err == nil {
				s.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if s.Len() != tt.wantLen {
			t.Errorf("%s: len %d, want %d", tt.name, s.Len(), tt.wantLen)
		}
		// The store must stay appendable and readable.
		if err := s.Append([]Story{mkStory(7)}); err != nil {
			t.Errorf("%s: append: %v", tt.name, err)
		}
		s.Close()
		all, err := ReadAll(path)
		if err != nil || len(all) != tt.wantLen+1 {
			t.Errorf("%s: reread %d stories, %v", tt.name, len(all), err)
		}
	}
	empty := filepath.Join(dir, "none.jsonl")
	os.WriteFile(empty, nil, 0o644)
	if _, err := ReadAll(empty); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v, want ErrEmpty", err)
	}
}

// fakeGen writes deterministic texts from the request seed and fails or
// cancels on request.
type fakeGen struct {
	calls     int
	failAt    int // Generate call number (1-based) that fails; 0 = never
	cancelAt  int
	cancel    context.CancelFunc
	lastReqs  []Request
	shortSeed map[uint64]bool
}

func (g *fakeGen) Name() string { return "fake" }

func (g *fakeGen) Generate(ctx context.Context, reqs []Request) ([]string, error) {
	g.calls++
	g.lastReqs = reqs
	if g.calls == g.cancelAt {
		g.cancel()
		return nil, ctx.Err()
	}
	if g.calls == g.failAt {
		return nil, errors.New("backend down")
	}
	out := make([]string, len(reqs))
	for i, r := range reqs {
		body := fmt.Sprintf(" and then something happened, seed %d, a long enough text.", r.Seed)
		if g.shortSeed[r.Seed] {
			body = "tiny"
		}
		if r.Chat() {
			var b strings.Builder
			var k int
			fmt.Sscanf(r.Messages[1].Content, "Write the %d", &k)
			for j := 1; j <= k; j++ {
				fmt.Fprintf(&b, "[story %d]\nPart %d%s\n\n", j, j, body)
			}
			out[i] = b.String()
		} else {
			out[i] = body
		}
	}
	return out, nil
}

func readIDs(t *testing.T, path string) map[string]Story {
	t.Helper()
	m := map[string]Story{}
	err := Read(path, func(s *Story) error {
		if _, dup := m[s.ID]; dup {
			t.Errorf("duplicate story %s", s.ID)
		}
		m[s.ID] = *s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGenerateResume(t *testing.T) {
	for _, style := range []Style{StyleBase, StyleChat} {
		t.Run(string(style), func(t *testing.T) {
			cfg := Config{Spec: Spec{Kind: Emotional, Emotions: []string{"happy", "sad", "worn out"},
				Topics:   []string{"{name} found a lost puppy in the park", "A neighbor wants to install a fence"},
				PerTopic: 5, Seed: 42}, Style: style, Batch: 2, StoriesPerCall: 3}
			dir := t.TempDir()

			// Reference: one uninterrupted run.
			ref := filepath.Join(dir, "ref.jsonl")
			st, _ := OpenStore(ref)
			sum, err := Generate(context.Background(), cfg, &fakeGen{}, st, nil)
			st.Close()
			if err != nil || sum.Written != 30 || sum.Planned != 30 {
				t.Fatalf("reference run: %+v, %v", sum, err)
			}

			// Interrupted: cancelled in the 2nd call, then a failure in the 2nd
			// call of the next run, then a run to completion.
			path := filepath.Join(dir, "s.jsonl")
			ctx, cancel := context.WithCancel(context.Background())
			st, _ = OpenStore(path)
			_, err = Generate(ctx, cfg, &fakeGen{cancelAt: 2, cancel: cancel}, st, nil)
			st.Close()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled run: %v", err)
			}
			st, _ = OpenStore(path)
			_, err = Generate(context.Background(), cfg, &fakeGen{failAt: 2}, st, nil)
			st.Close()
			if err == nil || !strings.Contains(err.Error(), "backend down") {
				t.Fatalf("failing run: %v", err)
			}
			var last [2]int
			st, _ = OpenStore(path)
			sum, err = Generate(context.Background(), cfg, &fakeGen{}, st, func(d, n int) { last = [2]int{d, n} })
			st.Close()
			if err != nil || sum.Skipped == 0 || sum.Skipped+sum.Written != 30 || last != [2]int{30, 30} {
				t.Fatalf("resumed run: %+v, %v, progress %v", sum, err, last)
			}

			want, got := readIDs(t, ref), readIDs(t, path)
			if len(got) != len(want) {
				t.Fatalf("resumed file has %d stories, want %d", len(got), len(want))
			}
			for id, w := range want {
				g, ok := got[id]
				if !ok {
					t.Errorf("story %s missing after resume", id)
					continue
				}
				if style == StyleBase && (g.Text != w.Text || g.Seed != w.Seed || g.Prefix != w.Prefix) {
					t.Errorf("story %s differs after resume:\n got %+v\nwant %+v", id, g, w)
				}
				if g.Split != SplitOf(id, DefaultHeldOut) {
					t.Errorf("story %s split %q", id, g.Split)
				}
				if style == StyleBase && (!strings.Contains(g.Prefix, g.Emotion) || g.Prompt != g.Prefix) {
					t.Errorf("base story %s prefix %q", id, g.Prefix)
				}
				if style == StyleChat && (g.Prefix != "" || !strings.Contains(g.Prompt, "Topic: "+g.Topic)) {
					t.Errorf("chat story %s prefix %q prompt %q", id, g.Prefix, g.Prompt)
				}
			}
			// A fourth run has nothing to do.
			st, _ = OpenStore(path)
			sum, err = Generate(context.Background(), cfg, &fakeGen{}, st, nil)
			st.Close()
			if err != nil || sum.Written != 0 || sum.Requests != 0 || sum.Skipped != 30 {
				t.Errorf("complete run again: %+v, %v", sum, err)
			}
		})
	}
}

func TestGenerateDropsShortAndRetries(t *testing.T) {
	cfg := Config{Spec: Spec{Kind: Neutral, Topics: []string{"{name} fed the fish in the tank"}, PerTopic: 4, Seed: 1}, Style: StyleBase}
	tasks, _ := cfg.Tasks()
	path := filepath.Join(t.TempDir(), "n.jsonl")
	st, _ := OpenStore(path)
	sum, err := Generate(context.Background(), cfg, &fakeGen{shortSeed: map[uint64]bool{tasks[1].Seed: true}}, st, nil)
	if err != nil || sum.Written != 3 || sum.Dropped != 1 {
		t.Fatalf("%+v, %v", sum, err)
	}
	sum, err = Generate(context.Background(), cfg, &fakeGen{}, st, nil)
	st.Close()
	if err != nil || sum.Written != 1 || sum.Skipped != 3 {
		t.Fatalf("retry: %+v, %v", sum, err)
	}
	for _, s := range readIDs(t, path) {
		if s.Kind != Neutral || s.Emotion != "" || s.Split != Train {
			t.Errorf("neutral story %+v", s)
		}
	}
}

func TestPlanDeterministic(t *testing.T) {
	sp := Spec{Kind: Emotional, Emotions: []string{"a", "b"}, Topics: []string{"x", "y", "z"}, PerTopic: 2, Seed: 9}
	t1, err := sp.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := sp.Tasks()
	if !reflect.DeepEqual(t1, t2) || len(t1) != 12 {
		t.Fatal("plan not deterministic")
	}
	sp.Seed = 10
	t3, _ := sp.Tasks()
	if t3[0].ID != t1[0].ID || t3[0].Seed == t1[0].Seed {
		t.Error("plan seed should change seeds, not IDs")
	}
	seeds := map[uint64]bool{}
	for _, tk := range t1 {
		seeds[tk.Seed] = true
		if tk.Seed >= 1<<53 {
			t.Errorf("seed %d not below 2^53", tk.Seed)
		}
	}
	if len(seeds) != len(t1) {
		t.Error("per-story seeds repeat")
	}
	for _, bad := range []Spec{{Kind: Emotional, Topics: []string{"x"}, PerTopic: 1}, {Kind: Emotional, Emotions: []string{"a"}, PerTopic: 1},
		{Kind: Emotional, Emotions: []string{"a"}, Topics: []string{"x"}}, {Kind: "other", Topics: []string{"x"}, PerTopic: 1}} {
		if _, err := bad.Tasks(); err == nil {
			t.Errorf("spec %+v accepted", bad)
		}
	}
}

func TestParseMulti(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		n    int
	}{
		{"[story 1]\nOne.\n\n[story 2]\nTwo.\n", []string{"One.", "Two."}, 2},
		{"Here you go:\n\n**[Story 1]**\nOne.\n**[story 2]:** Two.", []string{"One.", "Two."}, 2},
		{"## [story 1]\nOne.\n[story 2]\n\n[story 3]\nThree.", []string{"One.", "Three."}, 3},
		{"[dialogue 1]\nPerson: hi\n\nAI: hello\n[dialogue 2]\nPerson: q", []string{"Person: hi\n\nAI: hello", "Person: q"}, 2},
		{"Just one story.", []string{"Just one story."}, 1},
		{"Just one story.", nil, 2},
		{"The text mentions [story 1] inline only.", []string{"The text mentions [story 1] inline only."}, 1},
	}
	for _, tt := range tests {
		if got := ParseMulti(tt.in, tt.n); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseMulti(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanDialogue(t *testing.T) {
	in := "Format answers as JSON.\n\nPerson: What is 2+2?\n\nAI: 4.\n**Person:** And AI: in text?"
	want := "Format answers as JSON.\n\nHuman: What is 2+2?\n\nAssistant: 4.\n**Human:** And AI: in text?"
	if got := CleanDialogue(in); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestPrompts(t *testing.T) {
	m := EmotionalStoriesPrompt("lonely", "A neighbor starts a renovation project", 12)
	if len(m) != 2 || m[0].Role != "system" || !strings.Contains(m[0].Content, "feeling lonely") ||
		!strings.Contains(m[0].Content, `do not use the word "lonely"`) || !strings.Contains(m[0].Content, "[story 1]") ||
		!strings.Contains(m[0].Content, "Topic: A neighbor starts a renovation project") || !strings.Contains(m[1].Content, "12") {
		t.Errorf("emotional prompt: %+v", m)
	}
	n := NeutralDialoguesPrompt("A neighbor wants to install a fence", 3)
	if !strings.Contains(n[0].Content, "[dialogue 1]") || !strings.Contains(n[0].Content, "Person:") {
		t.Errorf("neutral prompt: %+v", n)
	}
}

func TestBaseOpening(t *testing.T) {
	seen := map[string]bool{}
	names := map[string]bool{}
	for seed := uint64(0); seed < 200; seed++ {
		o := BaseOpening(nil, "sad", "{name} lost a favorite teddy bear at the beach", seed)
		if o != BaseOpening(nil, "sad", "{name} lost a favorite teddy bear at the beach", seed) {
			t.Fatal("not deterministic")
		}
		if !strings.HasSuffix(o, " sad because") || strings.Contains(o, "{") || !strings.Contains(o, " lost a favorite teddy bear at the beach.") {
			t.Errorf("opening %q", o)
		}
		seen[o[:20]] = true
		for _, n := range append(girlNames, boyNames...) {
			if strings.Contains(o, n+" lost") {
				names[n] = true
			}
		}
	}
	if len(seen) < 4 || len(names) < 10 {
		t.Errorf("little variety: %d templates, %d names", len(seen), len(names))
	}
	tests := []struct{ emotion, topic, want string }{
		{"at ease", "A tenant receives an eviction notice.", "One day, a tenant receives an eviction notice."},
		{"hope", "I found a key", "full of hope because"},
		{"worn out", "NASA calls", "NASA calls."},
	}
	for _, tt := range tests {
		if o := BaseOpening(nil, tt.emotion, tt.topic, 1); !strings.Contains(o, tt.want) || strings.Contains(o, "very at") {
			t.Errorf("BaseOpening(%q, %q) = %q, want it to contain %q", tt.emotion, tt.topic, o, tt.want)
		}
	}
	if o := BaseNeutralOpening(nil, "{name} fed the fish in the tank", 3); strings.Contains(o, "{") || !strings.Contains(o, "fed the fish") {
		t.Errorf("neutral opening %q", o)
	}
	if o := BaseOpening([]string{"{name} the {kind} was {so}{emotion} because"}, "worn out", "x", 5); !strings.HasSuffix(o, " was worn out because") {
		t.Errorf("custom template: %q", o)
	}
}

func TestSortedStable(t *testing.T) { // guards the fixed task order the resume logic relies on
	sp := Spec{Kind: Emotional, Emotions: []string{"b", "a"}, Topics: []string{"y", "x"}, PerTopic: 2}
	ts, _ := sp.Tasks()
	var got []string
	for _, tk := range ts {
		got = append(got, fmt.Sprintf("%s/%s/%d", tk.Emotion, tk.Topic, tk.Index))
	}
	want := []string{"b/y/0", "b/y/1", "b/x/0", "b/x/1", "a/y/0", "a/y/1", "a/x/0", "a/x/1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// TestRequestStyle checks StyleRequest: one story per request, whose prompt
// is the rendered user turn and is kept as the story's Prefix; neutral
// requests name no emotion; without a renderer the run fails before any
// request.
func TestRequestStyle(t *testing.T) {
	render := func(user string) (string, error) { return "Human: " + user + "\n\nAssistant:", nil }
	for _, kind := range []Kind{Emotional, Neutral} {
		cfg := Config{Spec: Spec{Kind: kind, Emotions: []string{"happy", "worn out"}, Topics: []string{"{name} found a lost puppy in the park"},
			PerTopic: 3, Seed: 7}, Style: StyleRequest, Batch: 4, Render: render}
		if kind == Neutral {
			cfg.Emotions = nil
		}
		path := filepath.Join(t.TempDir(), "s.jsonl")
		st, _ := OpenStore(path)
		g := &fakeGen{}
		sum, err := Generate(context.Background(), cfg, g, st, nil)
		st.Close()
		want := 6
		if kind == Neutral {
			want = 3
		}
		if err != nil || sum.Written != want || sum.Requests != want {
			t.Fatalf("%s: %+v, %v; want %d stories from %d requests", kind, sum, err, want, want)
		}
		for id, s := range readIDs(t, path) {
			if !strings.HasPrefix(s.Prefix, "Human: ") || !strings.HasSuffix(s.Prefix, "\n\nAssistant:") || s.Prompt != s.Prefix {
				t.Errorf("%s: prefix %q prompt %q, want the rendered request as both", id, s.Prefix, s.Prompt)
			}
			if !strings.Contains(s.Prefix, "lost puppy") {
				t.Errorf("%s: request %q does not carry the topic", id, s.Prefix)
			}
			if named := strings.Contains(s.Prefix, " feels "+s.Emotion); (kind == Emotional) != named {
				t.Errorf("%s: request %q names the emotion %q: %v", id, s.Prefix, s.Emotion, named)
			}
		}
	}
	cfg := Config{Spec: Spec{Kind: Emotional, Emotions: []string{"happy"}, Topics: []string{"a walk"}, PerTopic: 1}, Style: StyleRequest}
	st, _ := OpenStore(filepath.Join(t.TempDir(), "s.jsonl"))
	defer st.Close()
	g := &fakeGen{}
	if _, err := Generate(context.Background(), cfg, g, st, nil); err == nil || !strings.Contains(err.Error(), "Render") || g.calls != 0 {
		t.Errorf("request style without a renderer: err %v after %d calls, want an error naming Render before any call", err, g.calls)
	}
}
