package data

import (
	"errors"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
)

// Example is a tokenized record: Loss[j] says whether Tokens[j] is a
// target the loss is taken on (when it is predicted from what precedes it).
type Example struct {
	Tokens []int
	Loss   []bool
	Where  string // FILE:LINE
}

// Encoder tokenizes records with a model's tokenizer and chat template.
type Encoder struct {
	tok  *tokenizer.Tokenizer
	tmpl *chat.Template
	opts chat.Options
	// AppendEOS puts the tokenizer's EOS after every example (a target with
	// loss when the example's last token has loss).
	AppendEOS bool
}

// NewEncoder returns an encoder for tk, with its chat template (chat.Plain
// when it has none).
func NewEncoder(tk *tokenizer.Tokenizer) (*Encoder, error) {
	if tk == nil {
		return nil, errors.New("data: the model has no tokenizer")
	}
	t, o, err := chat.ForTokenizer(tk)
	if err != nil {
		return nil, err
	}
	return &Encoder{tok: tk, tmpl: t, opts: o}, nil
}

// encode tokenizes text as chat.Encode does: special-token text parsed, BOS
// first when the model expects one and the text did not write it.
func (e *Encoder) encode(text string) []int {
	ids := e.tok.Encode(text, false)
	if e.tok.DefaultAddBOS() && (len(ids) == 0 || ids[0] != e.tok.BOS()) {
		ids = append([]int{e.tok.BOS()}, ids...)
	}
	return ids
}

func (e *Encoder) render(msgs []chat.Message, gen bool) (string, error) {
	o := e.opts
	o.AddGenerationPrompt = gen
	return e.tmpl.Render(msgs, o)
}

// Encode tokenizes r: a text with loss on every token, a conversation with
// loss on the assistant's tokens (see the package comment).
func (e *Encoder) Encode(r Record) (Example, error) {
	ex, err := e.encodeRecord(r)
	if err != nil {
		return Example{}, fmt.Errorf("%s: %w", r.Where(), err)
	}
	ex.Where = r.Where()
	if e.AppendEOS && e.tok.EOS() >= 0 {
		last := len(ex.Loss) > 0 && ex.Loss[len(ex.Loss)-1]
		ex.Tokens = append(ex.Tokens, e.tok.EOS())
		ex.Loss = append(ex.Loss, last || r.Messages == nil)
	}
	return ex, nil
}

func (e *Encoder) encodeRecord(r Record) (Example, error) {
	if r.Messages == nil {
		ids := e.encode(r.Text)
		loss := make([]bool, len(ids))
		for i := range loss {
			loss[i] = true
		}
		return Example{Tokens: ids, Loss: loss}, nil
	}
	full, err := e.render(r.Messages, false)
	if err != nil {
		return Example{}, err
	}
	ids := e.encode(full)
	loss := make([]bool, len(ids))
	n := 0
	for i, m := range r.Messages {
		if m.Role != "assistant" {
			continue
		}
		pre, err := e.render(r.Messages[:i], true)
		if err != nil {
			return Example{}, err
		}
		post, err := e.render(r.Messages[:i+1], false)
		if err != nil {
			return Example{}, err
		}
		if !strings.HasPrefix(full, pre) || !strings.HasPrefix(full, post) || len(post) < len(pre) {
			return Example{}, fmt.Errorf("messages[%d]: the chat template does not render the conversation up to this reply as a prefix of the whole, so its tokens cannot be found", i)
		}
		a, b := agree(e.encode(pre), ids), agree(e.encode(post), ids)
		for j := a; j < b; j++ {
			loss[j] = true
			n++
		}
	}
	if n == 0 {
		return Example{}, errors.New(`no assistant tokens: a conversation needs a message with role "assistant" to train on`)
	}
	return Example{Tokens: ids, Loss: loss}, nil
}

// agree returns how many leading tokens of prefix's tokenization match
// all's: its length when it is a prefix of all, else the index of the first
// disagreement (a token straddling the text boundary). Used as a span's
// start it puts the straddling token in the span; as its end, out of it.
func agree(prefix, all []int) int {
	n := 0
	for n < len(prefix) && n < len(all) && prefix[n] == all[n] {
		n++
	}
	return n
}
