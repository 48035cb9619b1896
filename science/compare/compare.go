package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/limbic-dev/limbic/science/validate"
	"math"
	"slices"
	"sort"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// The protocols a model is read with.
const (
	ProtocolChat = "chat" // the model's chat template, with the generation prompt
	ProtocolBase = "base" // a "Human: …\n\nAssistant:" transcript
)

// Options adjust Run. Nil slices mean every emotion of the pack and the
// shipped prompts.
type Options struct {
	// Layer is the model layer read; a negative value picks the pack's best
	// layer, or the pack layer nearest two-thirds of the depth when the pack
	// was not validated (negative layers from the end are resolved by the
	// caller, e.g. with hook.ParseLayerList).
	Layer    int
	Kind     vecpack.Kind
	Prompts  []Prompt // nil: DefaultPrompts
	Emotions []string // nil: the pack's
	// Progress, when set, is called after each prompt of each model.
	Progress func(done, total int)
}

// Row is one emotion's result.
type Row struct {
	Emotion string  `json:"emotion"`
	A       float64 `json:"a"`    // mean cosine on model A
	B       float64 `json:"b"`    // mean cosine on model B
	Diff    float64 `json:"diff"` // B − A
	// The difference over each prompt group alone.
	DiffNeutral     float64 `json:"diff_neutral"`
	DiffChallenging float64 `json:"diff_challenging"`
}

// Corr is a correlation; NaN (undefined: a constant profile) is written as
// null in JSON.
type Corr float64

// MarshalJSON writes NaN as null.
func (c Corr) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(c))
}

// String formats c with three decimals, "undefined" for NaN.
func (c Corr) String() string {
	if math.IsNaN(float64(c)) {
		return "undefined"
	}
	return fmt.Sprintf("%.3f", float64(c))
}

// ModelInfo names a compared model and how it was prompted.
type ModelInfo struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"` // ProtocolChat or ProtocolBase
}

// Result is a comparison.
type Result struct {
	A           ModelInfo `json:"model_a"`
	B           ModelInfo `json:"model_b"`
	Layer       int       `json:"layer"`
	Kind        string    `json:"kind"`
	Neutral     int       `json:"neutral_prompts"`
	Challenging int       `json:"challenging_prompts"`
	// Emotions are sorted by Diff, largest first.
	Emotions []Row `json:"emotions"`
	// RProfiles correlates A's and B's per-emotion means over all prompts;
	// the per-group ones over each group (the paper: 0.83 neutral, 0.67
	// challenging).
	RProfiles            Corr `json:"r_profiles"`
	RProfilesNeutral     Corr `json:"r_profiles_neutral"`
	RProfilesChallenging Corr `json:"r_profiles_challenging"`
	// RChange correlates the change vector (B − A) on the neutral prompts
	// with the one on the challenging prompts (the paper: 0.90).
	RChange Corr `json:"r_change"`
	// Mean |B − A| over emotions on each group (the paper: the shift is
	// larger on challenging prompts).
	MeanAbsDiffNeutral     float64 `json:"mean_abs_diff_neutral"`
	MeanAbsDiffChallenging float64 `json:"mean_abs_diff_challenging"`
	// Notes say what the reader should know (protocols that differ).
	Notes []string `json:"notes,omitempty"`
}

// Compatible refuses two models that cannot be compared position by
// position: different widths, depths or tokenizers (vocabularies compared
// token by token).
func Compatible(a, b *model.Model) error {
	if a.Dim != b.Dim {
		return fmt.Errorf("compare: the models differ in width: %s has d_model %d, %s has %d", a.Name, a.Dim, b.Name, b.Dim)
	}
	if a.Layers != b.Layers {
		return fmt.Errorf("compare: the models differ in depth: %s has %d layers, %s has %d", a.Name, a.Layers, b.Name, b.Layers)
	}
	ta, err := a.Tokenizer()
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	tb, err := b.Tokenizer()
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return sameVocab(ta, tb, a.Name, b.Name)
}

// sameVocab names the first difference between two vocabularies.
func sameVocab(ta, tb *tokenizer.Tokenizer, na, nb string) error {
	if ta.VocabSize() != tb.VocabSize() {
		return fmt.Errorf("compare: the models have different tokenizers: %s has %d tokens, %s has %d", na, ta.VocabSize(), nb, tb.VocabSize())
	}
	for i := range ta.VocabSize() {
		if x, y := ta.Token(i), tb.Token(i); x != y {
			return fmt.Errorf("compare: the models have different tokenizers: token %d is %q in %s, %q in %s", i, x, na, y, nb)
		}
	}
	return nil
}

// Run reads pack on models a and b over the prompts and compares the
// profiles. The pack must hold the layer read and match the models' width.
func Run(ctx context.Context, a, b *model.Model, pack *vecpack.Pack, o Options) (*Result, error) {
	if err := Compatible(a, b); err != nil {
		return nil, err
	}
	if pack == nil {
		return nil, errors.New("compare: no vector pack")
	}
	if pack.D() != a.Dim {
		return nil, fmt.Errorf("compare: the vector pack has width %d, the models %d", pack.D(), a.Dim)
	}
	layer, err := pickLayer(pack, a.Layers, o.Layer)
	if err != nil {
		return nil, err
	}
	prompts := o.Prompts
	if prompts == nil {
		prompts = DefaultPrompts()
	}
	emos := o.Emotions
	if emos == nil {
		emos = pack.Meta.Emotions
	}
	units := make([][]float32, len(emos))
	for i, e := range emos {
		if units[i], err = pack.Unit(layer, e, o.Kind); err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
	}
	res := &Result{A: ModelInfo{Name: a.Name, Protocol: protocol(a)}, B: ModelInfo{Name: b.Name, Protocol: protocol(b)},
		Layer: layer, Kind: o.Kind.String()}
	isNeutral := make([]bool, len(prompts))
	for i, p := range prompts {
		isNeutral[i] = p.Group == Neutral
		if isNeutral[i] {
			res.Neutral++
		} else {
			res.Challenging++
		}
	}
	if res.Neutral == 0 || res.Challenging == 0 {
		return nil, fmt.Errorf("compare: %d neutral and %d challenging prompts: want both groups", res.Neutral, res.Challenging)
	}
	if res.A.Protocol != res.B.Protocol {
		res.Notes = append(res.Notes, fmt.Sprintf("the models were prompted differently: %s through its %s protocol, %s through its %s protocol (each read before its reply)",
			a.Name, res.A.Protocol, b.Name, res.B.Protocol))
	}
	total := 2 * len(prompts)
	done := 0
	progress := func() {
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	cosA, err := readCosines(ctx, a, prompts, layer, units, progress)
	if err != nil {
		return nil, fmt.Errorf("compare: %s: %w", a.Name, err)
	}
	cosB, err := readCosines(ctx, b, prompts, layer, units, progress)
	if err != nil {
		return nil, fmt.Errorf("compare: %s: %w", b.Name, err)
	}
	// Means per emotion: over all prompts and per group.
	mean := func(cos [][]float64, e int, keep func(i int) bool) float64 {
		var s float64
		n := 0
		for i := range cos {
			if keep(i) {
				s += cos[i][e]
				n++
			}
		}
		return s / float64(n)
	}
	all := func(int) bool { return true }
	neu := func(i int) bool { return isNeutral[i] }
	chal := func(i int) bool { return !isNeutral[i] }
	n := len(emos)
	pa, pb := make([]float64, n), make([]float64, n)
	na, nb, ca, cb := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	dn, dc := make([]float64, n), make([]float64, n)
	for e := range emos {
		pa[e], pb[e] = mean(cosA, e, all), mean(cosB, e, all)
		na[e], nb[e] = mean(cosA, e, neu), mean(cosB, e, neu)
		ca[e], cb[e] = mean(cosA, e, chal), mean(cosB, e, chal)
		dn[e], dc[e] = nb[e]-na[e], cb[e]-ca[e]
		res.Emotions = append(res.Emotions, Row{Emotion: emos[e], A: pa[e], B: pb[e], Diff: pb[e] - pa[e], DiffNeutral: dn[e], DiffChallenging: dc[e]})
		res.MeanAbsDiffNeutral += math.Abs(dn[e]) / float64(n)
		res.MeanAbsDiffChallenging += math.Abs(dc[e]) / float64(n)
	}
	for _, r := range res.Emotions {
		if !finite(r.A) || !finite(r.B) {
			return nil, fmt.Errorf("compare: emotion %q: non-finite mean cosine (a %v, b %v)", r.Emotion, r.A, r.B)
		}
	}
	sort.SliceStable(res.Emotions, func(i, j int) bool { return res.Emotions[i].Diff > res.Emotions[j].Diff })
	res.RProfiles = Corr(validate.Pearson(pa, pb))
	res.RProfilesNeutral = Corr(validate.Pearson(na, nb))
	res.RProfilesChallenging = Corr(validate.Pearson(ca, cb))
	res.RChange = Corr(validate.Pearson(dn, dc))
	return res, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// protocol says how a model is prompted: through its chat template when it
// has one.
func protocol(m *model.Model) string {
	if m.Tok != nil && m.Tok.ChatTemplate() != "" {
		return ProtocolChat
	}
	return ProtocolBase
}

// pickLayer returns the layer to read: want when not negative, else the
// best layer, else the pack layer nearest two-thirds of the depth.
func pickLayer(p *vecpack.Pack, nLayers, want int) (int, error) {
	if want >= 0 {
		if _, err := p.LayerIndex(want); err != nil {
			return 0, fmt.Errorf("compare: %w", err)
		}
		return want, nil
	}
	if p.Meta.BestLayer >= 0 {
		if _, err := p.LayerIndex(p.Meta.BestLayer); err == nil {
			return p.Meta.BestLayer, nil
		}
	}
	if len(p.Meta.Layers) == 0 {
		return 0, errors.New("compare: the vector pack has no layers")
	}
	target := 2 * float64(nLayers) / 3
	best := p.Meta.Layers[0]
	for _, l := range p.Meta.Layers {
		if math.Abs(float64(l)-target) < math.Abs(float64(best)-target) {
			best = l
		}
	}
	return best, nil
}

// Encode returns the tokens of prompt p for model m, ending at the position
// before the reply: the chat template with the generation prompt, or the
// base transcript.
func Encode(m *model.Model, p Prompt) ([]int, error) {
	tk, err := m.Tokenizer()
	if err != nil {
		return nil, err
	}
	if protocol(m) == ProtocolChat {
		return chat.Encode(tk, []chat.Message{{Role: "user", Content: p.Text}}, true)
	}
	ids := tk.Encode("Human: "+p.Text+"\n\nAssistant:", false)
	if tk.DefaultAddBOS() && (len(ids) == 0 || ids[0] != tk.BOS()) {
		ids = append([]int{tk.BOS()}, ids...)
	}
	return ids, nil
}

// readCosines returns, per prompt, the cosine of each unit vector with the
// residual (hook_resid_post) at layer on the prompt's last token.
func readCosines(ctx context.Context, m *model.Model, prompts []Prompt, layer int, units [][]float32, progress func()) ([][]float64, error) {
	out := make([][]float64, len(prompts))
	for i, p := range prompts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ids, err := Encode(m, p)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("prompt %d encodes to no tokens", i+1)
		}
		last := len(ids) - 1
		var h []float32
		hs := &hook.Set{}
		hs.Add(hook.Block(layer, hook.ResidPost), func(a *hook.Act) {
			if r := last - a.Pos; r >= 0 && r < a.Rows {
				h = slices.Clone(a.Row(r))
			}
		})
		if err := m.Transformer.Forward([]*arch.Seq{{Cache: m.NewCache(), Tokens: ids, Hooks: hs}}); err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		if h == nil {
			return nil, fmt.Errorf("prompt %d: no activation at layer %d", i+1, layer)
		}
		var nh float64
		for _, x := range h {
			nh += float64(x) * float64(x)
		}
		nh = math.Sqrt(nh)
		out[i] = make([]float64, len(units))
		for e, u := range units {
			var d float64
			for k, x := range u {
				d += float64(x) * float64(h[k])
			}
			if nh > 0 {
				out[i][e] = d / nh
			}
		}
		progress()
	}
	return out, nil
}
