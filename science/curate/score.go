package curate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Key is the field a scored document's readout is written under.
const Key = "limbic"

// Scores is a document's readout, written beside it under Key: the mean
// over the scored tokens of each emotion's cosine and, when the pack has a
// neutral baseline, z-score, rounded to 5 decimals.
type Scores struct {
	Pack      string             `json:"pack"`  // PackID of the vector pack
	Layer     int                `json:"layer"` // residual stream read (blocks.L.hook_resid_post)
	Kind      string             `json:"kind"`  // denoised or raw vectors
	Line      int                `json:"line"`  // 1-based line of the document in its input
	Tokens    int                `json:"tokens"`
	Truncated bool               `json:"truncated,omitempty"` // only the first MaxTokens tokens were read
	Cos       map[string]float64 `json:"cos"`
	Z         map[string]float64 `json:"z,omitempty"`
}

// PackID is a short content id of a pack's metadata (model, emotions,
// layers, creation time and parameters): two scorings with the same id used
// the same extraction.
func PackID(p *vecpack.Pack) string {
	b, _ := json.Marshal(p.Meta) // Meta is plain data: cannot fail
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

// ScoreOptions configure a Scorer. Zero values: layer 0 (set BestLayer for
// the pack's best), denoised vectors, 16 documents per forward pass, the
// model's context.
type ScoreOptions struct {
	Layer     int // a layer, negative from the end, or readout.Best; 0 is layer 0 unless BestLayer
	BestLayer bool
	Kind      vecpack.Kind
	Batch     int // documents per forward pass
	MaxTokens int // read at most this many tokens of a document
	// Shard scores one contiguous block of the input's lines (ScoreFile;
	// zero: all of them). The shards' outputs, concatenated in shard order
	// (MergeShards), are the one-process output byte for byte.
	Shard shard.Shard
}

// Scorer scores documents with one layer of a vector pack.
type Scorer struct {
	m         *model.Model
	tok       *tokenizer.Tokenizer
	r         *readout.Reader
	tmpl      *chat.Template
	tmplOpts  chat.Options
	pack      string
	kind      vecpack.Kind
	batch     int
	maxTokens int
	// lines, when set, is the block of input lines [lo, hi) (1-based) this
	// scorer's shard owns (ScoreFile with ScoreOptions.Shard); lines
	// outside it are passed over.
	lines *[2]int
	shard shard.Shard
}

// NewScorer prepares a scorer for m (which must have a tokenizer) and p.
func NewScorer(m *model.Model, p *vecpack.Pack, o ScoreOptions) (*Scorer, error) {
	tok, err := m.Tokenizer()
	if err != nil {
		return nil, err
	}
	layer := o.Layer
	if o.BestLayer {
		layer = readout.Best
	}
	r, err := readout.NewReader(p, layer, nil, o.Kind)
	if err != nil {
		return nil, err
	}
	if r.Layer < 0 || r.Layer >= m.Layers {
		return nil, fmt.Errorf("curate: layer %d outside the model's %d layers", r.Layer, m.Layers)
	}
	if p.D() != m.Dim {
		return nil, fmt.Errorf("curate: vectors of width %d, model of width %d", p.D(), m.Dim)
	}
	t, to, err := chat.ForTokenizer(tok)
	if err != nil {
		return nil, fmt.Errorf("curate: chat template: %w", err)
	}
	s := &Scorer{m: m, tok: tok, r: r, tmpl: t, tmplOpts: to, pack: PackID(p), kind: o.Kind, batch: o.Batch, maxTokens: o.MaxTokens, shard: o.Shard}
	if s.batch <= 0 {
		s.batch = 16
	}
	if s.maxTokens <= 0 || s.maxTokens > m.MaxSeq {
		s.maxTokens = m.MaxSeq
	}
	return s, nil
}

// Layer is the layer the scorer reads.
func (s *Scorer) Layer() int { return s.r.Layer }

// Emotions are the emotions the scorer reads, in the pack's order.
func (s *Scorer) Emotions() []string { return s.r.Emotions }

// Pack is the PackID of the scorer's pack.
func (s *Scorer) Pack() string { return s.pack }

// item is one document ready for the forward pass: its tokens and the
// token spans whose readouts are averaged.
type item struct {
	line      int
	raw       []byte // the document's JSON object (without a previous Key field)
	ids       []int
	spans     [][2]int // [from, to) token positions scored
	truncated bool
	// accumulators, per emotion
	n        int
	cos, z   []float64
	position int
}

// prepareText tokenizes a text document; every token but BOS and other
// special tokens is scored.
func (s *Scorer) prepareText(text string) (ids []int, spans [][2]int) {
	ids = s.tok.Encode(text, s.tok.DefaultAddBOS())
	from := 0
	for from < len(ids) && s.tok.IsSpecial(ids[from]) {
		from++
	}
	return ids, [][2]int{{from, len(ids)}}
}

// encodeChat renders msgs with the model's chat template and encodes them
// as chat.Encode does.
func (s *Scorer) encodeChat(msgs []chat.Message, gen bool) ([]int, error) {
	o := s.tmplOpts
	o.AddGenerationPrompt = gen
	prompt, err := s.tmpl.Render(msgs, o)
	if err != nil {
		return nil, err
	}
	ids := s.tok.Encode(prompt, false)
	if s.tok.DefaultAddBOS() && (len(ids) == 0 || ids[0] != s.tok.BOS()) {
		ids = append([]int{s.tok.BOS()}, ids...)
	}
	return ids, nil
}

// prepareChat renders a conversation with the model's chat template and
// finds its assistant turns: the tokens between the rendering of the
// conversation before the turn (with the generation prompt) and the
// rendering through the turn.
func (s *Scorer) prepareChat(msgs []chat.Message) (ids []int, spans [][2]int, err error) {
	ids, err = s.encodeChat(msgs, false)
	if err != nil {
		return nil, nil, err
	}
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		pre, err := s.encodeChat(msgs[:i], true)
		if err != nil {
			return nil, nil, err
		}
		upto, err := s.encodeChat(msgs[:i+1], false)
		if err != nil {
			return nil, nil, err
		}
		from, to := min(len(pre), len(ids)), min(len(upto), len(ids))
		for to > from && s.tok.IsSpecial(ids[to-1]) {
			to-- // an end-of-turn token is the template's, not the reply's
		}
		if to > from {
			spans = append(spans, [2]int{from, to})
		}
	}
	if len(spans) == 0 {
		return nil, nil, errors.New("the conversation has no assistant turn to read")
	}
	return ids, spans, nil
}

// line is the JSON shape of a corpus line.
type line struct {
	Text     *string         `json:"text"`
	Messages []chat.Message  `json:"messages"`
	Limbic   json.RawMessage `json:"limbic"`
}

// parse turns one corpus line into an item.
func (s *Scorer) parse(raw []byte, n int) (*item, error) {
	if raw[0] != '{' {
		return nil, errors.New("want a JSON object")
	}
	var l line
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	it := &item{line: n, raw: raw}
	var err error
	switch {
	case l.Text != nil && l.Messages != nil:
		return nil, errors.New(`both "text" and "messages": want one`)
	case l.Text != nil:
		it.ids, it.spans = s.prepareText(*l.Text)
	case l.Messages != nil:
		for i, m := range l.Messages {
			if strings.TrimSpace(m.Role) == "" {
				return nil, fmt.Errorf("message %d has no role", i)
			}
		}
		if it.ids, it.spans, err = s.prepareChat(l.Messages); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New(`want a "text" string or a "messages" list of {"role", "content"}`)
	}
	if l.Limbic != nil {
		// Scored before: drop the old readout (the object's keys come out sorted).
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
		delete(obj, Key)
		if it.raw, err = json.Marshal(obj); err != nil {
			return nil, err
		}
	}
	if len(it.ids) > s.maxTokens {
		it.ids, it.truncated = it.ids[:s.maxTokens], true
	}
	tokens := 0
	for _, sp := range it.spans {
		tokens += max(0, min(sp[1], len(it.ids))-sp[0])
	}
	if tokens == 0 {
		return nil, errors.New("no tokens to read (empty text)")
	}
	return it, nil
}

// forward reads a batch of items: each is run as its own sequence, all of
// them in the same forward calls, PrefillChunk tokens at a time.
func (s *Scorer) forward(ctx context.Context, items []*item) error {
	seqs := make([]*arch.Seq, len(items))
	ne := len(s.r.Emotions)
	for i, it := range items {
		it.cos, it.z = make([]float64, ne), make([]float64, ne)
		var hs hook.Set
		hs.Add(s.r.Point(), s.r.Hook(func(pos int, sc *readout.Scores) {
			if !inSpans(it.spans, pos) {
				return
			}
			it.n++
			for e := range ne {
				it.cos[e] += float64(sc.Cos[e])
				if sc.Z != nil {
					it.z[e] += float64(sc.Z[e])
				}
			}
		}))
		seqs[i] = &arch.Seq{Cache: s.m.NewCache(), Hooks: &hs, Logits: arch.NoLogits}
	}
	for {
		var live []*arch.Seq
		for i, it := range items {
			if it.position >= len(it.ids) {
				continue
			}
			end := min(it.position+model.PrefillChunk, len(it.ids))
			seqs[i].Tokens = it.ids[it.position:end]
			it.position = end
			live = append(live, seqs[i])
		}
		if len(live) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.m.Forward(live); err != nil {
			return err
		}
	}
}

func inSpans(spans [][2]int, pos int) bool {
	for _, sp := range spans {
		if pos >= sp[0] && pos < sp[1] {
			return true
		}
	}
	return false
}

// result builds the item's Scores.
func (s *Scorer) result(it *item) *Scores {
	sc := &Scores{Pack: s.pack, Layer: s.r.Layer, Kind: s.kind.String(), Line: it.line, Tokens: it.n, Truncated: it.truncated,
		Cos: make(map[string]float64, len(it.cos))}
	if s.r.HasBaseline() {
		sc.Z = make(map[string]float64, len(it.z))
	}
	for e, name := range s.r.Emotions {
		sc.Cos[name] = round5(it.cos[e] / float64(it.n))
		if sc.Z != nil {
			sc.Z[name] = round5(it.z[e] / float64(it.n))
		}
	}
	return sc
}

func round5(x float64) float64 { return math.Round(x*1e5) / 1e5 }

// withScores appends the scores to the document's JSON object.
func withScores(raw []byte, sc *Scores) ([]byte, error) {
	b, err := json.Marshal(sc)
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(raw[:len(raw)-1]) // up to the closing brace
	out := make([]byte, 0, len(raw)+len(b)+16)
	out = append(out, body...)
	if len(bytes.TrimSpace(body[1:])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"`+Key+`":`...)
	out = append(out, b...)
	return append(out, '}', '\n'), nil
}

// Stats count a scoring pass.
type Stats struct {
	Docs      int   `json:"docs"`      // documents scored in this pass
	Tokens    int64 `json:"tokens"`    // tokens run through the model
	Skipped   int   `json:"skipped"`   // blank lines
	Truncated int   `json:"truncated"` // documents longer than MaxTokens
	Resumed   int   `json:"resumed"`   // input lines already scored by an earlier pass
	Others    int   `json:"others"`    // input lines of other shards
}

// Stream scores a JSONL corpus from in and writes each document, with its
// readout under Key, to out as it goes: memory holds one batch. Lines up to
// and including line after (1-based) are read past without scoring (a
// resumed run). Blank lines are skipped. name is the input's name in
// errors ("name:line: ..."). progress, when set, gets the lines and bytes
// read so far after each batch.
func (s *Scorer) Stream(ctx context.Context, in io.Reader, name string, out io.Writer, after int, progress func(lines int, read int64)) (Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(in, 1<<16)
	bw := bufio.NewWriterSize(out, 1<<16)
	var (
		read  int64
		n     int
		batch []*item
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.forward(ctx, batch); err != nil {
			return fmt.Errorf("%s:%d: %w", name, batch[0].line, err)
		}
		for _, it := range batch {
			b, err := withScores(it.raw, s.result(it))
			if err != nil {
				return fmt.Errorf("%s:%d: %w", name, it.line, err)
			}
			if _, err := bw.Write(b); err != nil {
				return err
			}
			st.Docs++
			st.Tokens += int64(len(it.ids))
			if it.truncated {
				st.Truncated++
			}
		}
		batch = batch[:0]
		if err := bw.Flush(); err != nil {
			return err
		}
		if progress != nil {
			progress(n, read)
		}
		return nil
	}
	for {
		raw, err := br.ReadBytes('\n')
		if len(raw) > 0 {
			n++
			read += int64(len(raw))
			t := bytes.TrimSpace(raw)
			switch {
			case s.lines != nil && (n < s.lines[0] || n >= s.lines[1]):
				st.Others++
			case n <= after:
				st.Resumed++
			case len(t) == 0:
				st.Skipped++
			default:
				it, perr := s.parse(t, n)
				if perr != nil {
					return st, fmt.Errorf("%s:%d: %w", name, n, perr)
				}
				batch = append(batch, it)
				if len(batch) >= s.batch {
					if err := flush(); err != nil {
						return st, err
					}
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%s:%d: %w", name, n+1, err)
		}
	}
	if after > n {
		return st, fmt.Errorf("%s: has %d lines, but the output being resumed was scored through line %d: is it the same input?", name, n, after)
	}
	return st, flush()
}

// ScoreDocs scores texts in memory, each read over its tokens from
// position from[i] on (the tokens before are context, such as an opening
// the text continues; nil from reads every token after BOS).
func (s *Scorer) ScoreDocs(ctx context.Context, texts []string, from []int) ([]*Scores, error) {
	out := make([]*Scores, 0, len(texts))
	for lo := 0; lo < len(texts); lo += s.batch {
		var items []*item
		for i := lo; i < min(lo+s.batch, len(texts)); i++ {
			ids, spans := s.prepareText(texts[i])
			if from != nil {
				spans[0][0] = max(spans[0][0], from[i])
			}
			it := &item{line: i + 1, ids: ids, spans: spans}
			if len(ids) > s.maxTokens {
				it.ids, it.truncated = ids[:s.maxTokens], true
			}
			items = append(items, it)
		}
		if err := s.forward(ctx, items); err != nil {
			return nil, err
		}
		for _, it := range items {
			if it.n == 0 {
				return nil, fmt.Errorf("curate: text %d has no tokens to read", it.line)
			}
			out = append(out, s.result(it))
		}
	}
	return out, nil
}
