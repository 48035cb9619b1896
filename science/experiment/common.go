package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Env is what every experiment needs: the model, its vectors and where to
// read and steer.
type Env struct {
	Model *model.Model
	Pack  *vecpack.Pack
	Kind  vecpack.Kind
	Layer int // readout layer: readout.Best, a layer, or negative from the end (-1: the last)
	// Steer, if set, returns extra steering hooks for a prompt of promptLen
	// tokens, applied in every forward pass of the experiment (as
	// --steer does on the command line).
	Steer func(promptLen int) (*hook.Set, error)
	// Steering describes Steer (the specs, as "calm=0.1@3"); results record
	// it, and ResultFile keeps steered results apart from the baseline.
	Steering []string
}

// ResultFile is the file name of an experiment's result in a run's
// experiments directory: NAME.json for the unsteered baseline, and
// NAME.steer-SPECS.json under steering, so that steered results never
// replace the baseline (long spec lists are shortened with a hash).
func ResultFile(name string, steering []string) string {
	if len(steering) == 0 {
		return name + ".json"
	}
	joined := strings.Join(steering, "+")
	var b strings.Builder
	for _, r := range joined {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._=+@,-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	slug := b.String()
	if len(slug) > 80 || slug != joined {
		sum := sha256.Sum256([]byte(joined))
		slug = slug[:min(len(slug), 64)] + "-" + hex.EncodeToString(sum[:4])
	}
	return name + ".steer-" + slug + ".json"
}

// steerHooks returns the env's extra steering for a prompt (nil: none).
func (e *Env) steerHooks(promptLen int) (*hook.Set, error) {
	if e.Steer == nil {
		return nil, nil
	}
	return e.Steer(promptLen)
}

// reader is the readout of every pack emotion at the env's layer, with the
// metric the experiments report: z-scores when the pack has a neutral
// baseline, else projections.
func (e *Env) reader() (*readout.Reader, readout.Metric, error) {
	r, err := readout.NewReader(e.Pack, e.Layer, nil, e.Kind)
	if err != nil {
		return nil, "", err
	}
	if r.HasBaseline() {
		return r, readout.ZScore, nil
	}
	return r, readout.Projection, nil
}

// chatModel reports whether prompts go through the model's chat template.
func (e *Env) chatModel() bool { return e.Model.Tok != nil && e.Model.Tok.ChatTemplate() != "" }

// encodeUser returns the ids of a user message ready for the answer: with a
// chat template, the rendered conversation with the generation prompt (and
// answerPrefix appended, e.g. "He feels"); without one, the raw text.
func (e *Env) encodeUser(user, answerPrefix, raw string) ([]int, error) {
	tok := e.Model.Tok
	if !e.chatModel() {
		return tok.Encode(raw, tok.DefaultAddBOS()), nil
	}
	ids, err := chat.Encode(tok, []chat.Message{{Role: "user", Content: user}}, true)
	if err != nil {
		return nil, err
	}
	if answerPrefix != "" {
		ids = append(ids, tok.Encode(answerPrefix, false)...)
	}
	return ids, nil
}

// continuation returns the tokens that text adds after prompt, or an error
// when tokenizing them together changes the prompt's tokens.
func (e *Env) continuation(promptText, word string) ([]int, error) {
	tok := e.Model.Tok
	a := tok.Encode(promptText, false)
	b := tok.Encode(promptText+" "+word, false)
	if len(b) <= len(a) || !slices.Equal(a, b[:len(a)]) {
		return nil, fmt.Errorf("experiment: %q does not tokenize as a continuation of %q", word, promptText)
	}
	return b[len(a):], nil
}

// logProbs runs prompt with hooks, then scores each continuation (teacher
// forcing): Σ log p(cont_i | prompt, cont_<i). The hooks apply to the
// prompt's positions only if their spans say so.
func logProbs(m *arch.Transformer, prompt []int, conts [][]int, hs *hook.Set) ([]float64, error) {
	c := m.NewCache()
	seq := &arch.Seq{Cache: c, Tokens: prompt, Hooks: hs, Logits: arch.LastLogits}
	if err := m.Forward([]*arch.Seq{seq}); err != nil {
		return nil, err
	}
	first := slices.Clone(seq.Out)
	n := c.Len()
	out := make([]float64, len(conts))
	for i, ct := range conts {
		lp := logSoftmaxAt(first, ct[0])
		if len(ct) > 1 {
			s := &arch.Seq{Cache: c, Tokens: ct[:len(ct)-1], Hooks: hs, Logits: arch.AllLogits}
			if err := m.Forward([]*arch.Seq{s}); err != nil {
				return nil, err
			}
			for j := 1; j < len(ct); j++ {
				lp += logSoftmaxAt(s.Out[(j-1)*m.Vocab:j*m.Vocab], ct[j])
			}
			c.Truncate(n)
		}
		out[i] = lp
	}
	return out, nil
}

func logSoftmaxAt(logits []float32, id int) float64 {
	mx := float64(slices.Max(logits))
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return float64(logits[id]) - mx - math.Log(s)
}

// lastReadout runs ids (with the env's steering) and returns the readout at
// the last position.
func (e *Env) lastReadout(ids []int, r *readout.Reader) (readout.Scores, error) {
	hs, err := e.steerHooks(len(ids))
	if err != nil {
		return readout.Scores{}, err
	}
	scores, err := readout.Scan(e.Model.Transformer, ids, r, hs)
	if err != nil {
		return readout.Scores{}, err
	}
	return scores[len(scores)-1], nil
}

// Spearman returns the rank correlation of x and y (average ranks for ties),
// NaN when undefined (see validate.Spearman): fewer than two pairs or either
// series constant.
func Spearman(x, y []float64) float64 { return validate.Spearman(x, y) }
