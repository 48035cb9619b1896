package chatdata

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/catalog"
)

// FeelOptions adjust Feel.
type FeelOptions struct {
	MaxTokens int // most reply tokens (default 24: "NAME feels EMOTION." is about 6)
	Batch     int // sequences generated together (default 8)
	// Template renders the question (nil: the model's own chat template,
	// chat.Plain when it has none). Pass Template (parsed) to ask a base
	// model in stories15M-chat's format.
	Template *chat.Template
	// Progress, when set, is told how many items are done.
	Progress func(done, total int)
}

// Reply is one answered item.
type Reply struct {
	Item    Item
	Text    string // the decoded reply, without the stop token
	Correct bool   // the reply names the item's emotion (an accepted form)
	Exact   bool   // the reply is exactly Answer(name, emotion), case aside
	Stopped bool   // the model emitted a stop token within MaxTokens
	Tokens  int    // reply tokens generated (the stop token not counted)
}

// Rate is a fraction with its Wilson 95% interval.
type Rate struct {
	K, N   int
	P      float64
	Lo, Hi float64
}

func rate(k, n int) Rate {
	r := Rate{K: k, N: n}
	if n > 0 {
		r.P = float64(k) / float64(n)
	}
	r.Lo, r.Hi = behave.Wilson(k, n)
	return r
}

// Result is the outcome of Feel.
type Result struct {
	Correct Rate // replies naming the story's emotion
	Exact   Rate // replies that are exactly the trained answer "NAME feels EMOTION."
	Stopped Rate // replies that end their turn (a stop token before MaxTokens)
	Replies []Reply
}

// Score counts planted or generated replies: Correct, Exact and Stopped
// rates over all of them.
func Score(rs []Reply) Result {
	var c, e, s int
	for _, r := range rs {
		if r.Correct {
			c++
		}
		if r.Exact {
			e++
		}
		if r.Stopped {
			s++
		}
	}
	return Result{Correct: rate(c, len(rs)), Exact: rate(e, len(rs)), Stopped: rate(s, len(rs)), Replies: rs}
}

var replyWordRE = regexp.MustCompile(`[a-z]+`)

// Names reports whether reply names emotion: whether one of its words
// (lower-cased) is an accepted form of emotion. The accepted forms are the
// emotion itself and the words of catalog.EmotionWords(emotion) that begin
// with its stem (the emotion less its last two letters, at least three
// letters): "happily", "happiness" for happy, "scary" for scared; not the
// synonyms ("glad"), nor "unhappy". A multi-word emotion ("at ease") must
// occur as a phrase.
func Names(reply, emotion string) bool {
	lower := strings.ToLower(reply)
	if strings.Contains(emotion, " ") {
		return containsWord(lower, emotion)
	}
	words := replyWordRE.FindAllString(lower, -1)
	for _, f := range AcceptedForms(emotion) {
		if slices.Contains(words, f) {
			return true
		}
	}
	return false
}

// AcceptedForms returns the words Names accepts for a one-word emotion.
func AcceptedForms(emotion string) []string {
	forms := []string{emotion}
	stem := emotion
	if len(stem) > 5 {
		stem = stem[:len(stem)-2]
	} else if len(stem) > 3 {
		stem = stem[:len(stem)-1]
	}
	list, _ := catalog.EmotionWords(emotion)
	for _, w := range list {
		if w != emotion && strings.HasPrefix(w, stem) {
			forms = append(forms, w)
		}
	}
	return forms
}

// Feel asks m "How does NAME feel?" about every item through the chat
// template (one user turn: the story, a blank line, the question; the
// generation prompt opens the assistant's turn), generates greedily up to
// MaxTokens, and scores the replies: Correct when the reply names the
// item's emotion (Names), Exact when it is the trained answer (Answer), and
// Stopped when generation ended on one of
// m.StopIDs() rather than at MaxTokens. An item whose prompt does not fit
// the context is an error naming it.
func Feel(ctx context.Context, m *model.Model, items []Item, o FeelOptions) (Result, error) {
	if len(items) == 0 {
		return Result{}, errors.New("chatdata: no feel items")
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 24
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	tk, err := m.Tokenizer()
	if err != nil {
		return Result{}, err
	}
	tmpl, opts, err := chat.ForTokenizer(tk)
	if err != nil {
		return Result{}, err
	}
	if o.Template != nil {
		tmpl = o.Template
	}
	opts.AddGenerationPrompt = true
	stop := m.StopIDs()
	if len(stop) == 0 {
		return Result{}, errors.New("chatdata: the model has no stop token, so no reply can end its turn")
	}
	reqs := make([]model.Request, len(items))
	for i, it := range items {
		text, err := tmpl.Render([]chat.Message{{Role: "user", Content: it.Prompt()}}, opts)
		if err != nil {
			return Result{}, fmt.Errorf("chatdata: item %s: %w", it.ID, err)
		}
		ids := tk.Encode(text, false)
		if tk.DefaultAddBOS() && (len(ids) == 0 || ids[0] != tk.BOS()) {
			ids = append([]int{tk.BOS()}, ids...)
		}
		if n := len(ids) + o.MaxTokens; n > m.MaxSeq {
			return Result{}, fmt.Errorf("chatdata: item %s: %d prompt tokens and %d reply tokens exceed the context of %d", it.ID, len(ids), o.MaxTokens, m.MaxSeq)
		}
		reqs[i] = model.Request{Prompt: ids, Max: o.MaxTokens, Stop: stop}
	}
	replies := make([]Reply, 0, len(items))
	for start := 0; start < len(reqs); start += o.Batch {
		end := min(start+o.Batch, len(reqs))
		res, err := model.Generate(ctx, m.Transformer, reqs[start:end], nil)
		if err != nil {
			return Result{}, fmt.Errorf("chatdata: generating replies: %w", err)
		}
		for j, r := range res {
			it := items[start+j]
			text := strings.TrimSpace(tk.Decode(r.IDs))
			replies = append(replies, Reply{Item: it, Text: text, Correct: Names(text, it.Emotion),
				Exact: strings.EqualFold(text, Answer(it.Name, it.Emotion)), Stopped: r.Reason == model.StopEOS, Tokens: len(r.IDs)})
		}
		if o.Progress != nil {
			o.Progress(end, len(reqs))
		}
	}
	return Score(replies), nil
}
