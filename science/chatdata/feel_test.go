package chatdata

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/testref"
)

// TestTemplateRenders checks the Jinja template against a written-out
// transcript and against RenderPlain on several conversations.
func TestTemplateRenders(t *testing.T) {
	tmpl, err := chat.Parse(Template)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []chat.Message{{Role: "user", Content: "Hello!"}, {Role: "assistant", Content: "Hi."}, {Role: "user", Content: "How does Max feel?"}}
	got, err := tmpl.Render(msgs, chat.Options{BOS: "<s>", EOS: "</s>", AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "<s>Human: Hello!\n\nAssistant: Hi.</s>\n\nHuman: How does Max feel?\n\nAssistant:"; got != want {
		t.Errorf("render:\n got %q\nwant %q", got, want)
	}
	convs := [][]chat.Message{
		nil,
		{{Role: "user", Content: "Tell me a story."}},
		{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello!\nBye."}},
		Item{ID: "x", Name: "Lily", Emotion: "calm", Story: "Lily sat by the pond."}.Dialogue().Messages,
	}
	for i, c := range convs {
		for _, gen := range []bool{false, true} {
			got, err := tmpl.Render(c, chat.Options{BOS: "<s>", EOS: "</s>", AddGenerationPrompt: gen})
			if err != nil {
				t.Fatal(err)
			}
			want, err := RenderPlain(c, "<s>", "</s>", gen)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("conversation %d gen=%v:\n got %q\nwant %q", i, gen, got, want)
			}
		}
	}
	if _, err := tmpl.Render([]chat.Message{{Role: "tool", Content: "x"}}, chat.Options{}); err == nil {
		t.Error("an unknown role rendered without error")
	}
	if _, err := RenderPlain([]chat.Message{{Role: "tool", Content: "x"}}, "", "", false); err == nil {
		t.Error("RenderPlain: an unknown role gave no error")
	}
}

func loadStories15M(t *testing.T) *model.Model {
	t.Helper()
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestTemplateTokens checks, on stories15M's own tokenizer, that the end of
// an assistant turn is the EOS token, one of the model's stop ids, and that
// the generation prompt is a prefix of the rendered dialogue's tokens (so
// what the model is trained on continues what it is asked with).
func TestTemplateTokens(t *testing.T) {
	m := loadStories15M(t)
	tk, err := m.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	tk.SetChatTemplate(Template)
	d := Item{ID: "x", Name: "Lily", Emotion: "calm", Story: "Lily sat by the pond and watched the ducks."}.Dialogue()
	full, err := chat.Encode(tk, d.Messages, false)
	if err != nil {
		t.Fatal(err)
	}
	prompt, err := chat.Encode(tk, d.Messages[:1], true)
	if err != nil {
		t.Fatal(err)
	}
	if full[0] != tk.BOS() || slices.Contains(full[1:], tk.BOS()) {
		t.Errorf("tokens %v: want one BOS (%d), first", full, tk.BOS())
	}
	if !slices.Equal(full[:len(prompt)], prompt) {
		t.Fatalf("generation prompt %v is not a prefix of the dialogue %v", prompt, full)
	}
	reply := full[len(prompt):]
	eos := slices.Index(reply, tk.EOS())
	if eos < 0 {
		t.Fatalf("reply tokens %v: no EOS (%d)", reply, tk.EOS())
	}
	if got, want := strings.TrimSpace(tk.Decode(reply[:eos])), "Lily feels calm."; got != want {
		t.Errorf("reply before EOS decodes to %q, want %q", got, want)
	}
	if !slices.Contains(m.StopIDs(), tk.EOS()) {
		t.Errorf("EOS %d is not among the stop ids %v", tk.EOS(), m.StopIDs())
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		reply, emotion string
		want           bool
	}{
		{"Max feels happy.", "happy", true},
		{"Max feels HAPPY", "happy", true},
		{"Max smiled happily.", "happy", true},
		{"Max feels unhappy.", "happy", false},
		{"Max feels glad.", "happy", false},
		{"Max feels sad.", "happy", false},
		{"Lily feels scary.", "scared", true},
		{"Lily feels afraid.", "scared", false},
		{"Lily feels sadness.", "sad", true},
		{"Tom feels at ease.", "at ease", true},
		{"Tom feels ease.", "at ease", false},
		{"", "happy", false},
	}
	for _, tt := range tests {
		if got := Names(tt.reply, tt.emotion); got != tt.want {
			t.Errorf("Names(%q, %q) = %v, want %v", tt.reply, tt.emotion, got, tt.want)
		}
	}
}

// TestScore checks the counts and intervals on planted replies.
func TestScore(t *testing.T) {
	rs := []Reply{
		{Correct: true, Exact: true, Stopped: true},
		{Correct: true, Stopped: false},
		{Correct: false, Stopped: true},
		{Correct: false, Stopped: true},
		{Correct: false, Stopped: false},
	}
	r := Score(rs)
	if r.Correct.K != 2 || r.Correct.N != 5 || r.Exact.K != 1 || r.Exact.N != 5 || r.Stopped.K != 3 || r.Stopped.N != 5 {
		t.Errorf("got correct %d/%d exact %d/%d stopped %d/%d, want 2/5, 1/5 and 3/5",
			r.Correct.K, r.Correct.N, r.Exact.K, r.Exact.N, r.Stopped.K, r.Stopped.N)
	}
	for _, x := range []Rate{r.Correct, r.Stopped} {
		if !(x.Lo < x.P && x.P < x.Hi && x.Lo >= 0 && x.Hi <= 1) {
			t.Errorf("rate %+v: want 0 ≤ lo < p < hi ≤ 1", x)
		}
	}
	// Wilson 95% for 2/5: [0.1176, 0.7693] (Wilson 1927; as in R's prop.test without correction).
	if !(abs(r.Correct.Lo-0.1176) <= 1e-3 && abs(r.Correct.Hi-0.7693) <= 1e-3) {
		t.Errorf("2/5 interval [%.4f, %.4f], want [0.1176, 0.7693]", r.Correct.Lo, r.Correct.Hi)
	}
	if e := Score(nil); e.Correct.N != 0 || e.Correct.Lo != 0 || e.Correct.Hi != 1 {
		t.Errorf("no replies: %+v, want n 0 and [0, 1]", e.Correct)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestFeelBaseModel runs the evaluation on the base stories15M asked in
// stories15M-chat's format, on a few hand-written and built items: the
// harness must run and its counts agree with the replies (the base model
// mostly fails; the accuracy is not asserted).
func TestFeelBaseModel(t *testing.T) {
	m := loadStories15M(t)
	tmpl, err := chat.Parse(Template)
	if err != nil {
		t.Fatal(err)
	}
	hand, err := HandItems()
	if err != nil {
		t.Fatal(err)
	}
	set, err := Build(synthStories(60), Options{Seed: 5, HeldOut: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.HeldOutItems) < 2 {
		t.Fatalf("%d held-out items, want at least 2", len(set.HeldOutItems))
	}
	items := append([]Item{hand[0], hand[20], hand[40]}, set.HeldOutItems[:2]...)
	const maxTok = 12
	var calls []int
	res, err := Feel(context.Background(), m, items, FeelOptions{MaxTokens: maxTok, Batch: 2, Template: tmpl,
		Progress: func(done, total int) { calls = append(calls, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != len(items) || res.Correct.N != len(items) || res.Stopped.N != len(items) {
		t.Fatalf("%d replies, n %d/%d, want %d", len(res.Replies), res.Correct.N, res.Stopped.N, len(items))
	}
	if !slices.Equal(calls, []int{2, 4, 5}) {
		t.Errorf("progress calls %v, want [2 4 5]", calls)
	}
	correct, stopped := 0, 0
	for i, r := range res.Replies {
		t.Logf("%s (%s, %s): %q stopped=%v", r.Item.ID, r.Item.Name, r.Item.Emotion, r.Text, r.Stopped)
		if r.Item.ID != items[i].ID {
			t.Errorf("reply %d is for %s, want %s", i, r.Item.ID, items[i].ID)
		}
		if r.Correct != Names(r.Text, r.Item.Emotion) {
			t.Errorf("reply %d %q: Correct %v disagrees with Names", i, r.Text, r.Correct)
		}
		if r.Exact && !r.Correct {
			t.Errorf("reply %d %q: exact but not correct", i, r.Text)
		}
		if r.Stopped != (r.Tokens < maxTok) {
			t.Errorf("reply %d: stopped %v after %d of %d tokens", i, r.Stopped, r.Tokens, maxTok)
		}
		if r.Correct {
			correct++
		}
		if r.Stopped {
			stopped++
		}
	}
	if res.Correct.K != correct || res.Stopped.K != stopped {
		t.Errorf("counts %d correct, %d stopped; replies say %d and %d", res.Correct.K, res.Stopped.K, correct, stopped)
	}
	if _, err := Feel(context.Background(), m, nil, FeelOptions{}); err == nil {
		t.Error("Feel with no items: no error")
	}
}
