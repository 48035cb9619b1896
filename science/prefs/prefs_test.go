package prefs

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/testref"
)

var (
	onceModel sync.Once
	stories   *model.Model
	loadErr   error
)

func embedded(t *testing.T) *model.Model {
	t.Helper()
	testref.Stories15M(t)
	onceModel.Do(func() { stories, loadErr = model.Load(context.Background(), model.Default, model.LoadOptions{}) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return stories
}

// The steered span of every comparison is exactly its activity's tokens, in
// both protocols: decoding those tokens gives the activity, and the tokens
// on either side are not part of it.
func TestSpansAreTheActivityTokens(t *testing.T) {
	m := embedded(t)
	acts := []string{"eat ice cream", "go to the dentist", "play with a puppy", "go to the zoo", "read a book"}
	for _, protocol := range []string{ProtocolStory, ProtocolChat} {
		tok := *m.Tok // a copy: the chat protocol gets a template
		if protocol == ProtocolChat {
			tok.SetChatTemplate(chat.Plain)
		}
		r := &runner{m: m, tok: &tok, batch: 4}
		comps, err := r.comparisons(protocol, acts, []string{"Lily", "Tom"})
		if err != nil {
			t.Fatal(err)
		}
		want := len(acts) * (len(acts) - 1)
		if protocol == ProtocolStory {
			want *= 2
		}
		if len(comps) != want {
			t.Fatalf("%s: %d comparisons, want %d", protocol, len(comps), want)
		}
		for _, c := range comps {
			for _, x := range []struct {
				sp  [2]int
				act string
			}{{[2]int{c.spanA.From, c.spanA.To}, acts[c.i]}, {[2]int{c.spanB.From, c.spanB.To}, acts[c.j]}} {
				got := strings.TrimSpace(tok.Decode(c.prompt[x.sp[0]:x.sp[1]]))
				if got != x.act {
					t.Errorf("%s: span %v decodes to %q, want %q (prompt %q)", protocol, x.sp, got, x.act, tok.Decode(c.prompt))
				}
				// one token more on either side is not the activity
				if x.sp[0] > 0 && strings.TrimSpace(tok.Decode(c.prompt[x.sp[0]-1:x.sp[1]])) == x.act {
					t.Errorf("%s: the token before %q's span is part of it", protocol, x.act)
				}
			}
		}
		// A known prompt: "Lily could eat ice cream or go to the dentist. Lily chose to"
		if protocol == ProtocolStory {
			c := comps[0]
			if got := tok.Decode(c.prompt); got != "Lily could eat ice cream or go to the dentist. Lily chose to" {
				t.Errorf("prompt %q", got)
			}
			if got := tok.Decode(c.contA); got != " eat ice cream" && got != "eat ice cream" {
				t.Errorf("continuation A %q", got)
			}
		}
	}
}

// Elo on the embedded model, story protocol: prefix reuse gives the same
// log-probabilities as running each prompt whole, and the pleasant end of the
// list beats the unpleasant end.
func TestStoryEloEmbedded(t *testing.T) {
	m := embedded(t)
	acts := ChildActivities
	res, err := Run(context.Background(), m, nil, Options{Activities: acts, Bootstrap: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Protocol != ProtocolStory || res.Comparisons != len(acts)*(len(acts)-1) {
		t.Fatalf("protocol %s, %d comparisons", res.Protocol, res.Comparisons)
	}
	var top, bottom float64
	k := len(acts) / 4
	for i := 0; i < k; i++ {
		top += res.Elo[acts[i]] / float64(k)
		bottom += res.Elo[acts[len(acts)-1-i]] / float64(k)
	}
	t.Logf("mean Elo of the first %d (pleasant) %.0f, last %d (unpleasant) %.0f; position bias %+.3f; %d tokens", k, top, k, bottom, res.PositionBias, res.ForwardTokens)
	for _, a := range res.SortedElo() {
		t.Logf("%6.0f [%4.0f, %4.0f]  hard %6.0f  %s", res.Elo[a], res.EloCI[a][0], res.EloCI[a][1], res.HardElo[a], a)
	}
	if !(top > bottom) {
		t.Errorf("pleasant activities' mean Elo %.0f not above the unpleasant ones' %.0f", top, bottom)
	}
	for _, a := range acts {
		if ci := res.EloCI[a]; !(ci[0] <= res.Elo[a]+1e-9 && res.Elo[a] <= ci[1]+1e-9) {
			t.Errorf("%s: Elo %.1f outside its interval %v", a, res.Elo[a], ci)
		}
	}

	// Prefix reuse: the same numbers as whole prompts, one at a time.
	r := &runner{m: m, tok: m.Tok, batch: 5}
	comps, err := r.comparisons(ProtocolStory, acts[:6], []string{"Lily"})
	if err != nil {
		t.Fatal(err)
	}
	reused, err := r.run(context.Background(), comps, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	whole := &runner{m: m, tok: m.Tok, batch: 1}
	for k, c := range comps {
		c2 := c
		c2.spanB.From = 0 // forbids a shared prefix
		got, err := whole.run(context.Background(), []comparison{c2}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for o := 0; o < 2; o++ {
			if d := math.Abs(got[0][o] - reused[k][o]); !(d <= 1e-3) {
				t.Errorf("comparison %d option %d: %.5f whole, %.5f with a shared prefix", k, o, got[0][o], reused[k][o])
			}
		}
	}
	if !slices.Equal(res.Activities, acts) {
		t.Error("activities reordered")
	}
}
