package trainwatch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Probe is one prompt of a probe set: the user turn for a chat model, a
// story opening for a base model.
type Probe struct {
	Kind   string `json:"kind,omitempty"` // e.g. challenging, neutral, emotional
	Prompt string `json:"prompt"`
}

// ProbeSet is a fixed list of probes.
type ProbeSet struct {
	Name   string  `json:"name"`
	Probes []Probe `json:"probes"`
}

//go:embed probes/*.jsonl
var probeFS embed.FS

// DefaultProbes returns the shipped probe set: for a chat model (one with
// a chat template) challenging and neutral requests, for a base model
// emotional and neutral story openings.
func DefaultProbes(chatModel bool) ProbeSet {
	name := "story"
	if chatModel {
		name = "chat"
	}
	b, err := probeFS.ReadFile("probes/" + name + ".jsonl")
	if err != nil {
		panic(err) // embedded: a build error
	}
	ps, err := ParseProbes(b, "default "+name)
	if err != nil {
		panic(err)
	}
	return ps
}

// LoadProbes reads a probe file: JSON lines {"prompt": ..., "kind": ...},
// or plain text with one prompt per line (blank lines and lines starting
// with # are skipped).
func LoadProbes(path string) (ProbeSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ProbeSet{}, fmt.Errorf("trainwatch: probes: %w", err)
	}
	return ParseProbes(b, path)
}

// ParseProbes parses a probe file's content (see LoadProbes); name is used
// in errors and as the set's name.
func ParseProbes(b []byte, name string) (ProbeSet, error) {
	ps := ProbeSet{Name: name}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line[0] != '{' {
			ps.Probes = append(ps.Probes, Probe{Prompt: line})
			continue
		}
		var p Probe
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return ps, fmt.Errorf("trainwatch: %s:%d: %v (want {\"prompt\": ..., \"kind\": ...})", name, n, err)
		}
		if strings.TrimSpace(p.Prompt) == "" {
			return ps, fmt.Errorf("trainwatch: %s:%d: empty prompt", name, n)
		}
		ps.Probes = append(ps.Probes, p)
	}
	if err := sc.Err(); err != nil {
		return ps, fmt.Errorf("trainwatch: %s: %w", name, err)
	}
	if len(ps.Probes) == 0 {
		return ps, fmt.Errorf("trainwatch: %s: no probes", name)
	}
	return ps, nil
}

// Readout is the probe set's mean readout at one layer, parallel to
// Emotions: cosine, projection and z-score (Z is nil without a neutral
// baseline in the pack), and the standard deviation of z over the probes.
type Readout struct {
	Layer    int       `json:"layer"`
	Emotions []string  `json:"emotions"`
	Cos      []float64 `json:"cos"`
	Proj     []float64 `json:"proj"`
	Z        []float64 `json:"z,omitempty"`
	ZStd     []float64 `json:"z_std,omitempty"`
}

// Result is one checkpoint's evaluation.
type Result struct {
	Step   int       `json:"step"`
	Dir    string    `json:"dir"`
	Kind   Kind      `json:"kind"`
	Probes int       `json:"probes"`
	Layers []Readout `json:"layers"`
	Loss   *float64  `json:"loss,omitempty"` // mean next-token cross entropy (nats) on the loss file
	Tokens int       `json:"loss_tokens,omitempty"`
	// Behaviour holds the unsteered rates of the scenarios (Options.Scenarios).
	Behaviour []Behaviour `json:"behaviour,omitempty"`
	Seconds   float64     `json:"seconds"` // evaluation time, loading included
	Time      time.Time   `json:"time"`
}

// Layer returns the readout at layer l.
func (r *Result) Layer(l int) (*Readout, bool) {
	for i := range r.Layers {
		if r.Layers[i].Layer == l {
			return &r.Layers[i], true
		}
	}
	return nil, false
}

// Evaluator reads a fixed probe set with a fixed vector pack.
type Evaluator struct {
	probes  ProbeSet
	readers []*readout.Reader
	loss    []string // held-out texts
	chat    bool     // render probes as a user turn
	pack    *vecpack.Pack
	kind    vecpack.Kind
}

// EvalOptions configure an Evaluator.
type EvalOptions struct {
	Probes ProbeSet
	// Layers to read (readout layers: readout.Best, or negative from the
	// end). Empty: the pack's best layer.
	Layers []int
	Kind   vecpack.Kind
	// Chat renders each probe as a user turn with the checkpoint's chat
	// template and reads the last token of the generation prompt; otherwise
	// the probe is the text and its last token is read.
	Chat bool
	// LossTexts are held-out texts for the cross-entropy loss (nil: none).
	LossTexts []string
}

// NewEvaluator builds an evaluator over pack.
func NewEvaluator(pack *vecpack.Pack, o EvalOptions) (*Evaluator, error) {
	if len(o.Probes.Probes) == 0 {
		return nil, fmt.Errorf("trainwatch: no probes")
	}
	layers := o.Layers
	if len(layers) == 0 {
		layers = []int{readout.Best}
	}
	e := &Evaluator{probes: o.Probes, loss: o.LossTexts, chat: o.Chat, pack: pack, kind: o.Kind}
	for _, l := range layers {
		r, err := readout.NewReader(pack, l, nil, o.Kind)
		if err != nil {
			return nil, fmt.Errorf("trainwatch: %w", err)
		}
		if !slices.ContainsFunc(e.readers, func(x *readout.Reader) bool { return x.Layer == r.Layer }) {
			e.readers = append(e.readers, r)
		}
	}
	return e, nil
}

// Layers returns the model layers the evaluator reads; the first is the
// main one.
func (e *Evaluator) Layers() []int {
	out := make([]int, len(e.readers))
	for i, r := range e.readers {
		out[i] = r.Layer
	}
	return out
}

// Fingerprint identifies what the evaluator measures (pack, vector kind,
// layers, probes, loss texts): a store made with another fingerprint holds
// another series.
func (e *Evaluator) Fingerprint() string {
	h := sha256.New()
	meta, _ := json.Marshal(struct {
		Model    vecpack.ModelInfo
		Emotions []string
		Layers   []int
		Kind     vecpack.Kind
		Probes   ProbeSet
		Chat     bool
		Loss     []string
	}{e.pack.Meta.Model, e.pack.Meta.Emotions, e.Layers(), e.kind, e.probes, e.chat, e.loss})
	h.Write(meta)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Evaluate reads the probes through the model m with tokenizer tok (the
// checkpoint's, or the base model's when the checkpoint has none).
func (e *Evaluator) Evaluate(ctx context.Context, m *arch.Transformer, tok *tokenizer.Tokenizer) (Result, error) {
	start := time.Now()
	res := Result{Probes: len(e.probes.Probes)}
	if tok == nil {
		return res, fmt.Errorf("trainwatch: no tokenizer for the probes")
	}
	n := len(e.probes.Probes)
	sums := make([]struct{ cos, proj, z, zz []float64 }, len(e.readers))
	for i, r := range e.readers {
		if r.Layer >= m.Layers {
			return res, fmt.Errorf("trainwatch: layer %d outside the model's %d layers", r.Layer, m.Layers)
		}
		k := len(r.Emotions)
		sums[i].cos, sums[i].proj, sums[i].z, sums[i].zz = make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
	}
	for pi, p := range e.probes.Probes {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		ids, err := e.encode(tok, p)
		if err != nil {
			return res, fmt.Errorf("trainwatch: probe %d: %w", pi+1, err)
		}
		if len(ids) > m.MaxSeq {
			return res, fmt.Errorf("trainwatch: probe %d has %d tokens, more than the context of %d", pi+1, len(ids), m.MaxSeq)
		}
		last, err := lastScores(m, ids, e.readers)
		if err != nil {
			return res, fmt.Errorf("trainwatch: probe %d: %w", pi+1, err)
		}
		for i, s := range last {
			for j := range s.Cos {
				sums[i].cos[j] += float64(s.Cos[j])
				sums[i].proj[j] += float64(s.Proj[j])
				if s.Z != nil {
					z := float64(s.Z[j])
					sums[i].z[j] += z
					sums[i].zz[j] += z * z
				}
			}
		}
	}
	for i, r := range e.readers {
		ro := Readout{Layer: r.Layer, Emotions: slices.Clone(r.Emotions)}
		div := func(xs []float64) []float64 {
			out := make([]float64, len(xs))
			for j, x := range xs {
				out[j] = x / float64(n)
			}
			return out
		}
		ro.Cos, ro.Proj = div(sums[i].cos), div(sums[i].proj)
		if r.HasBaseline() {
			ro.Z = div(sums[i].z)
			ro.ZStd = make([]float64, len(ro.Z))
			for j, mz := range ro.Z {
				if n > 1 {
					v := (sums[i].zz[j] - float64(n)*mz*mz) / float64(n-1)
					ro.ZStd[j] = math.Sqrt(max(v, 0))
				}
			}
		}
		res.Layers = append(res.Layers, ro)
	}
	if len(e.loss) > 0 {
		loss, toks, err := meanLoss(ctx, m, tok, e.loss)
		if err != nil {
			return res, err
		}
		res.Loss, res.Tokens = &loss, toks
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func (e *Evaluator) encode(tok *tokenizer.Tokenizer, p Probe) ([]int, error) {
	if e.chat {
		return chat.Encode(tok, []chat.Message{{Role: "user", Content: p.Prompt}}, true)
	}
	ids := tok.Encode(p.Prompt, tok.DefaultAddBOS())
	if len(ids) == 0 {
		return nil, fmt.Errorf("empty prompt")
	}
	return ids, nil
}

// lastScores runs ids through m and returns each reader's scores at the
// last position.
func lastScores(m *arch.Transformer, ids []int, rs []*readout.Reader) ([]readout.Scores, error) {
	out := make([]readout.Scores, len(rs))
	lastPos := len(ids) - 1
	var hs hook.Set
	for i, r := range rs {
		hs.Add(r.Point(), r.Hook(func(pos int, s *readout.Scores) {
			if pos == lastPos {
				out[i] = readout.Scores{Proj: slices.Clone(s.Proj), Cos: slices.Clone(s.Cos), Z: slices.Clone(s.Z), Norm: s.Norm}
			}
		}))
	}
	seq := &arch.Seq{Cache: m.NewCache(), Hooks: &hs}
	for start := 0; start < len(ids); start += model.PrefillChunk {
		seq.Tokens = ids[start:min(start+model.PrefillChunk, len(ids))]
		if err := m.Forward([]*arch.Seq{seq}); err != nil {
			return nil, err
		}
	}
	for i := range out {
		if out[i].Cos == nil {
			return nil, fmt.Errorf("no readout at layer %d", rs[i].Layer)
		}
	}
	return out, nil
}

// meanLoss is the mean next-token cross entropy of the texts under m.
func meanLoss(ctx context.Context, m *arch.Transformer, tok *tokenizer.Tokenizer, texts []string) (float64, int, error) {
	var sum float64
	var count int
	for ti, text := range texts {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		ids := tok.Encode(text, tok.DefaultAddBOS())
		if len(ids) > m.MaxSeq {
			ids = ids[:m.MaxSeq]
		}
		if len(ids) < 2 {
			continue
		}
		seq := &arch.Seq{Cache: m.NewCache(), Logits: arch.AllLogits}
		V := m.Vocab
		for start := 0; start < len(ids)-1; start += model.PrefillChunk {
			end := min(start+model.PrefillChunk, len(ids)-1)
			seq.Tokens = ids[start:end]
			if err := m.Forward([]*arch.Seq{seq}); err != nil {
				return 0, 0, fmt.Errorf("trainwatch: loss text %d: %w", ti+1, err)
			}
			for j := range end - start {
				row := seq.Out[j*V : (j+1)*V]
				sum += crossEntropy(row, ids[start+j+1])
				count++
			}
		}
	}
	if count == 0 {
		return 0, 0, fmt.Errorf("trainwatch: the loss texts have no token to predict")
	}
	return sum / float64(count), count, nil
}

// crossEntropy is −log softmax(logits)[target], computed stably.
func crossEntropy(logits []float32, target int) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s) - float64(logits[target])
}
