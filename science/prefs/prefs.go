package prefs

import (
	"context"
	"errors"
	"fmt"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/validate"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Protocols.
const (
	ProtocolChat  = "chat"
	ProtocolStory = "story"
)

// ChildActivities are the base-model analogue's activities, in the register
// of a children's story, from clearly pleasant to clearly unpleasant.
var ChildActivities = []string{
	"eat ice cream", "play with a puppy", "go to the beach", "have a birthday party",
	"ride a pony", "open a big present", "bake cookies with mom", "build a sandcastle",
	"go to the zoo", "play in the park", "swim in the pool", "watch the stars",
	"read a book", "walk to school", "fold the clothes", "wash the dishes",
	"clean the room", "wait for the bus", "go to the dentist", "get a shot",
	"stay home sick", "lose a favorite toy", "fall off a bike", "get lost in the woods",
	"sit alone in the dark", "break a favorite toy", "get stung by a bee", "be yelled at",
}

// DefaultNames are the base protocol's characters.
var DefaultNames = []string{"Lily", "Tom"}

// Options configure Run.
type Options struct {
	Activities []string // default: the paper's 64 (chat) or ChildActivities (base)
	Names      []string // base protocol's characters (default DefaultNames)
	// Emotions read and, with Causal, steered (default: all of the pack's).
	Emotions []string
	Causal   bool // run the steering test
	// Strength of the causal steering (default: 0.5, the paper's, for chat
	// models; 0.15 for the base protocol, where 0.5 swamps a small model's
	// activity tokens and every steered activity loses Elo).
	Strength float64
	// Layers are the middle layers read (default: the pack's layers between
	// a third and two thirds of the model's depth).
	Layers []int
	// SteerLayers are the layers steered in the causal test (default: the
	// middle layers for chat models, as in the paper; the pack's best layer
	// for the base protocol).
	SteerLayers  []int
	Kind         vecpack.Kind
	Seed         uint64
	Bootstrap    int // replicates (default 1000)
	Permutations int // permutation test shufflings (default 10000)
	Batch        int // comparisons per batched forward call (default 64)
	// Progress reports comparisons done in the current stage.
	Progress func(stage string, done, total int)
}

// EmotionResult is one emotion's readout correlation and causal effect.
type EmotionResult struct {
	Emotion string  `json:"emotion"`
	R       float64 `json:"r"` // Pearson r of the readout with Elo across activities
	P       float64 `json:"p"` // permutation p-value
	// DeltaElo is the steered half's mean Elo change (causal runs only).
	DeltaElo   *float64  `json:"delta_elo,omitempty"`
	DeltaEloCI *Interval `json:"delta_elo_ci,omitempty"`
}

// Result is the experiment's outcome.
type Result struct {
	Protocol     string               `json:"protocol"`
	Activities   []string             `json:"activities"`
	Elo          map[string]float64   `json:"elo"`
	EloCI        map[string]Interval  `json:"elo_ci"`
	HardElo      map[string]float64   `json:"hard_elo"`
	HardEloCI    map[string]Interval  `json:"hard_elo_ci"`
	PositionBias float64              `json:"position_bias"`
	Comparisons  int                  `json:"comparisons"`
	Layers       []int                `json:"layers"`
	Metric       string               `json:"metric"`  // readout: "z" or "proj"
	Readout      map[string][]float64 `json:"readout"` // emotion → per activity
	Emotions     []EmotionResult      `json:"emotions"`
	// Causal test.
	Strength       float64  `json:"strength,omitempty"`
	SteerLayers    []int    `json:"steer_layers,omitempty"`
	Steered        []string `json:"steered,omitempty"` // the steered half
	RDeltaCorr     *float64 `json:"r_delta_corr,omitempty"`
	Names          []string `json:"names,omitempty"`
	ForwardTokens  int64    `json:"forward_tokens"` // tokens run through the model
	outcomes       []Outcome
	steeredIndex   []int
	activityTokens [][]int
}

// Outcomes returns the unsteered run's outcomes.
func (r *Result) Outcomes() []Outcome { return slices.Clone(r.outcomes) }

// comparison is one ordered pair's prompt: the shared prompt and the two
// options' continuations, with the token positions of each activity.
type comparison struct {
	i, j         int   // activity indices (i offered first)
	name         int   // base: character index
	prompt       []int // tokens before the options' continuations
	contA, contB []int
	spanA, spanB hook.Span // activity token positions in prompt
}

// runner evaluates comparisons on a model.
type runner struct {
	m      *model.Model
	tok    *tokenizer.Tokenizer
	batch  int
	tokens int64
}

// Run runs the experiment on m with pack (which may be nil: then only Elo).
func Run(ctx context.Context, m *model.Model, pack *vecpack.Pack, o Options) (*Result, error) {
	e, err := newExperiment(m, pack, o)
	if err != nil {
		return nil, err
	}
	base, err := e.r.run(ctx, e.comps, nil, e.progress("baseline"))
	if err != nil {
		return nil, err
	}
	return e.analyse(ctx, base, func(k int, emotion string) ([][2]float64, error) {
		return e.r.run(ctx, e.comps, e.hooks(k), e.progress("steer "+emotion))
	})
}

// experiment is a run's settings and everything decided before the model
// runs: the comparisons and, for the causal test, what is steered.
type experiment struct {
	m         *model.Model
	pack      *vecpack.Pack
	o         Options
	r         *runner
	res       *Result
	comps     []comparison
	chatModel bool
	emos      []string              // read (and, causal, steered)
	steered   []bool                // by activity: in the steered half
	vecs      [][]steer.LayerVector // by emotion: the steering vectors
}

func newExperiment(m *model.Model, pack *vecpack.Pack, o Options) (*experiment, error) {
	tok, err := m.Tokenizer()
	if err != nil {
		return nil, err
	}
	chatModel := tok.ChatTemplate() != ""
	if len(o.Activities) == 0 {
		if chatModel {
			for _, a := range catalog.Activities() {
				o.Activities = append(o.Activities, a.Name)
			}
		} else {
			o.Activities = slices.Clone(ChildActivities)
		}
	}
	if len(o.Activities) < 4 {
		return nil, fmt.Errorf("prefs: %d activities, want at least 4", len(o.Activities))
	}
	seen := map[string]bool{}
	for _, a := range o.Activities {
		if strings.TrimSpace(a) == "" || seen[a] {
			return nil, fmt.Errorf("prefs: empty or repeated activity %q", a)
		}
		seen[a] = true
	}
	if len(o.Names) == 0 {
		o.Names = DefaultNames
	}
	if !(o.Strength > -10 && o.Strength < 10) {
		return nil, fmt.Errorf("prefs: strength %v outside (-10, 10)", o.Strength)
	}
	if o.Bootstrap <= 0 {
		o.Bootstrap = 1000
	}
	if o.Permutations <= 0 {
		o.Permutations = 10000
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	res := &Result{Protocol: ProtocolStory, Activities: slices.Clone(o.Activities)}
	if chatModel {
		res.Protocol = ProtocolChat
	} else {
		res.Names = slices.Clone(o.Names)
	}
	if o.Strength == 0 {
		o.Strength = 0.15
		if chatModel {
			o.Strength = 0.5
		}
	}
	e := &experiment{m: m, pack: pack, o: o, r: &runner{m: m, tok: tok, batch: o.Batch}, res: res, chatModel: chatModel}
	if e.comps, err = e.r.comparisons(res.Protocol, o.Activities, o.Names); err != nil {
		return nil, err
	}
	if pack == nil {
		return e, nil
	}
	if res.Layers, err = middleLayers(pack, m.Layers, o.Layers); err != nil {
		return nil, err
	}
	e.emos = o.Emotions
	if len(e.emos) == 0 {
		e.emos = pack.Meta.Emotions
	}
	for _, em := range e.emos {
		if _, err := pack.EmotionIndex(em); err != nil {
			return nil, fmt.Errorf("prefs: %w", err)
		}
	}
	if !o.Causal {
		return e, nil
	}
	// Causal test: steer each emotion on the steered half's tokens.
	res.Strength = o.Strength
	res.SteerLayers = o.SteerLayers
	if len(res.SteerLayers) == 0 {
		res.SteerLayers = res.Layers
		if !chatModel {
			res.SteerLayers = []int{pack.Meta.BestLayer}
			if pack.Meta.BestLayer < 0 {
				res.SteerLayers = res.Layers[len(res.Layers)/2:][:1]
			}
		}
	}
	for _, l := range res.SteerLayers {
		if _, err := pack.LayerIndex(l); err != nil {
			return nil, fmt.Errorf("prefs: steer layers: %w", err)
		}
	}
	n := len(o.Activities)
	rng := rand.New(rand.NewPCG(o.Seed, 0x73706c6974)) // "split"
	perm := rng.Perm(n)
	res.steeredIndex = slices.Sorted(slices.Values(perm[:n/2]))
	e.steered = make([]bool, n)
	for _, i := range res.steeredIndex {
		e.steered[i] = true
		res.Steered = append(res.Steered, o.Activities[i])
	}
	for _, em := range e.emos {
		vecs, err := layerVectors(pack, em, o.Strength, res.SteerLayers, m, o.Kind)
		if err != nil {
			return nil, err
		}
		e.vecs = append(e.vecs, vecs)
	}
	return e, nil
}

func (e *experiment) progress(stage string) func(done, total int) {
	if e.o.Progress == nil {
		return nil
	}
	return func(done, total int) { e.o.Progress(stage, done, total) }
}

// hooks returns the steering of emotion k on the steered activities'
// tokens in the prompt (not the options' continuations, which are what is
// scored).
func (e *experiment) hooks(k int) func(c *comparison, branch int) *hook.Set {
	return func(c *comparison, branch int) *hook.Set {
		var where hook.Spans
		if e.steered[c.i] {
			where = append(where, c.spanA)
		}
		if e.steered[c.j] {
			where = append(where, c.spanB)
		}
		if len(where) == 0 {
			return nil
		}
		hs := &hook.Set{}
		for _, lv := range e.vecs[k] {
			hs.Add(hook.Block(lv.Layer, hook.ResidPost), hook.AddVector(lv.Vec, where))
		}
		return hs
	}
}

// analyse computes the result from the baseline's log-probabilities of
// every comparison and, for the causal test, those steered with each
// emotion (from steeredLPs).
func (e *experiment) analyse(ctx context.Context, base [][2]float64, steeredLPs func(k int, emotion string) ([][2]float64, error)) (*Result, error) {
	o, res, r, comps := e.o, e.res, e.r, e.comps
	n := len(o.Activities)
	res.outcomes = pool(comps, base, len(o.Names))
	res.Comparisons = len(res.outcomes)
	res.PositionBias = PositionBias(res.outcomes)
	fitElo := func(outs []Outcome) ([]float64, error) {
		th, err := FitBT(n, outs)
		return Elo(th), err
	}
	fitHard := func(outs []Outcome) ([]float64, error) { return fitElo(Hard(outs)) }
	elo, err := fitElo(res.outcomes)
	if err != nil {
		return nil, err
	}
	hard, err := fitHard(res.outcomes)
	if err != nil {
		return nil, err
	}
	ci, err := Bootstrap(res.outcomes, o.Bootstrap, o.Seed, fitElo)
	if err != nil {
		return nil, err
	}
	hci, err := Bootstrap(res.outcomes, o.Bootstrap, o.Seed, fitHard)
	if err != nil {
		return nil, err
	}
	res.Elo, res.EloCI = map[string]float64{}, map[string]Interval{}
	res.HardElo, res.HardEloCI = map[string]float64{}, map[string]Interval{}
	for k, a := range o.Activities {
		res.Elo[a], res.EloCI[a] = elo[k], ci[k]
		res.HardElo[a], res.HardEloCI[a] = hard[k], hci[k]
	}
	if e.pack == nil {
		res.ForwardTokens = r.tokens
		return res, nil
	}

	// Readout on each activity's own tokens.
	read, metric, err := r.readouts(ctx, res.Protocol, o.Activities, o.Names[0], e.pack, o.Kind, e.emos, res.Layers)
	if err != nil {
		return nil, err
	}
	res.Metric, res.Readout = metric, read
	for k, em := range e.emos {
		x := read[em]
		er := EmotionResult{Emotion: em, R: validate.Pearson(x, elo), P: PermutationP(x, elo, o.Permutations, o.Seed+uint64(k))}
		res.Emotions = append(res.Emotions, er)
	}
	if !o.Causal {
		res.ForwardTokens = r.tokens
		return res, nil
	}
	var rs, ds []float64
	for k, em := range e.emos {
		lps, err := steeredLPs(k, em)
		if err != nil {
			return nil, err
		}
		outs := pool(comps, lps, len(o.Names))
		d, iv, err := deltaElo(n, res.outcomes, outs, res.steeredIndex, o.Bootstrap, o.Seed+uint64(1000+k))
		if err != nil {
			return nil, err
		}
		res.Emotions[k].DeltaElo, res.Emotions[k].DeltaEloCI = &d, &iv
		rs = append(rs, res.Emotions[k].R)
		ds = append(ds, d)
	}
	if len(rs) >= 3 {
		c := validate.Pearson(rs, ds)
		if !math.IsNaN(c) {
			res.RDeltaCorr = &c
		}
	}
	res.ForwardTokens = r.tokens
	return res, nil
}

// middleLayers are the pack's layers in [L/3, 2L/3] (or those asked for,
// which the pack must have).
func middleLayers(pack *vecpack.Pack, nLayers int, want []int) ([]int, error) {
	if len(want) > 0 {
		for _, l := range want {
			if _, err := pack.LayerIndex(l); err != nil {
				return nil, fmt.Errorf("prefs: %w", err)
			}
		}
		return slices.Clone(want), nil
	}
	var out []int
	for _, l := range pack.Meta.Layers {
		if 3*l >= nLayers && 3*l <= 2*nLayers {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prefs: the pack has no middle layer of the model's %d (layers %v)", nLayers, pack.Meta.Layers)
	}
	return out, nil
}

// layerVectors resolves emotion at strength on each layer.
func layerVectors(pack *vecpack.Pack, emotion string, strength float64, layers []int, m *model.Model, kind vecpack.Kind) ([]steer.LayerVector, error) {
	var out []steer.LayerVector
	for _, l := range layers {
		v, err := steer.Vectors(steer.Spec{Emotion: emotion, Strength: strength, Layers: fmt.Sprint(l)}, pack,
			steer.Options{Kind: kind, NLayers: m.Layers, Dim: m.Dim})
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// pool turns per-comparison log-probabilities into outcomes, averaging a
// pair's probability over the character names (base protocol).
func pool(comps []comparison, lps [][2]float64, names int) []Outcome {
	sum := map[[2]int]float64{}
	count := map[[2]int]int{}
	var keys [][2]int
	for k, c := range comps {
		key := [2]int{c.i, c.j}
		if count[key] == 0 {
			keys = append(keys, key)
		}
		sum[key] += sigmoid(lps[k][0] - lps[k][1])
		count[key]++
	}
	out := make([]Outcome, len(keys))
	for k, key := range keys {
		out[k] = Outcome{I: key[0], J: key[1], P: sum[key] / float64(count[key])}
	}
	return out
}

// deltaElo is the mean Elo change of the steered activities between two
// runs over the same pairs, with a paired bootstrap interval.
func deltaElo(n int, base, steered []Outcome, idx []int, reps int, seed uint64) (float64, Interval, error) {
	delta := func(a, b []Outcome) (float64, error) {
		ta, err := FitBT(n, a)
		if err != nil {
			return 0, err
		}
		tb, err := FitBT(n, b)
		if err != nil {
			return 0, err
		}
		var d float64
		for _, i := range idx {
			d += EloScale * (tb[i] - ta[i]) / float64(len(idx))
		}
		return d, nil
	}
	d, err := delta(base, steered)
	if err != nil {
		return 0, Interval{}, err
	}
	// Tag each outcome with its run, resample pairs, refit both.
	both := make([]Outcome, 0, len(base)+len(steered))
	both = append(both, base...)
	for _, o := range steered {
		both = append(both, Outcome{I: o.I + n, J: o.J + n, P: o.P})
	}
	iv, err := Bootstrap(both, reps, seed, func(s []Outcome) ([]float64, error) {
		var a, b []Outcome
		for _, o := range s {
			if o.I >= n {
				b = append(b, Outcome{I: o.I - n, J: o.J - n, P: o.P})
			} else {
				a = append(a, o)
			}
		}
		if len(a) == 0 || len(b) == 0 {
			return []float64{0}, nil
		}
		x, err := delta(a, b)
		return []float64{x}, err
	})
	if err != nil {
		return 0, Interval{}, err
	}
	return d, iv[0], nil
}

// encode tokenizes a prompt text as chat.Encode does: special tokens parsed,
// BOS first when the model expects one and the text does not start with it.
func (r *runner) encode(text string) []int {
	ids := r.tok.Encode(text, false)
	if r.tok.DefaultAddBOS() && (len(ids) == 0 || ids[0] != r.tok.BOS()) {
		ids = append([]int{r.tok.BOS()}, ids...)
	}
	return ids
}

// comparisons builds every ordered pair's prompt (and each name's, for the
// base protocol), grouped by first option.
func (r *runner) comparisons(protocol string, acts, names []string) ([]comparison, error) {
	var out []comparison
	for i, a := range acts {
		for ni, name := range names {
			if protocol == ProtocolChat && ni > 0 {
				break
			}
			for j, b := range acts {
				if i == j {
					continue
				}
				var text, optA, optB, markA, markB string
				if protocol == ProtocolChat {
					user := fmt.Sprintf("Would you prefer to (A) %s or (B) %s?", a, b)
					rendered, err := chat.Render(r.tok, []chat.Message{{Role: "user", Content: user}}, true)
					if err != nil {
						return nil, err
					}
					text, optA, optB = rendered+"(", "A", "B"
					markA, markB = "(A) "+a, "(B) "+b
				} else {
					text = fmt.Sprintf("%s could %s or %s. %s chose to", name, a, b, name)
					optA, optB = " "+a, " "+b
					markA, markB = "could "+a, " or "+b
				}
				c, err := r.comparison(text, optA, optB)
				if err != nil {
					return nil, fmt.Errorf("prefs: %q vs %q: %w", a, b, err)
				}
				c.i, c.j, c.name = i, j, ni
				if c.spanA, err = r.span(c.prompt, markA, a); err != nil {
					return nil, err
				}
				if c.spanB, err = r.span(c.prompt, markB, b); err != nil {
					return nil, err
				}
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// comparison splits text+optA and text+optB into a shared prompt and the
// two continuations.
func (r *runner) comparison(text, optA, optB string) (comparison, error) {
	a, b := r.encode(text+optA), r.encode(text+optB)
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	if n == len(a) || n == len(b) {
		return comparison{}, errors.New("one option's tokens are a prefix of the other's")
	}
	if n == 0 {
		return comparison{}, errors.New("the prompt has no tokens")
	}
	if len(a) > r.m.MaxSeq || len(b) > r.m.MaxSeq {
		return comparison{}, fmt.Errorf("the prompt has %d tokens, more than the context length %d", max(len(a), len(b)), r.m.MaxSeq)
	}
	return comparison{prompt: a[:n], contA: a[n:], contB: b[n:]}, nil
}

// span is the token positions of activity act in ids, found as marker (which
// ends with act) in the decoded text: the tokens whose decoded characters
// overlap it.
func (r *runner) span(ids []int, marker, act string) (hook.Span, error) {
	ends := make([]int, len(ids)+1)
	for k := 1; k <= len(ids); k++ {
		ends[k] = len(r.tok.Decode(ids[:k]))
	}
	text := r.tok.Decode(ids)
	at := strings.Index(text, marker)
	if at < 0 {
		return hook.Span{}, fmt.Errorf("prefs: %q not found in the decoded prompt %q", marker, text)
	}
	from, to := at+len(marker)-len(act), at+len(marker)
	sp := hook.Span{From: -1}
	for k := 0; k < len(ids); k++ {
		s, e := ends[k], ends[k+1]
		if e > s && e > from && s < to {
			if sp.From < 0 {
				sp.From = k
			}
			sp.To = k + 1
		}
	}
	if sp.From < 0 {
		return hook.Span{}, fmt.Errorf("prefs: no token of %q in the prompt", act)
	}
	return sp, nil
}

// run scores every comparison: the log-probabilities of its two
// continuations after its prompt, with hooks (nil: none) per comparison.
//
// hooks gives a comparison's hooks for its prompt (branch −1) and for the
// continuation of option A (0) or B (1).
func (r *runner) run(ctx context.Context, comps []comparison, hooks func(c *comparison, branch int) *hook.Set, progress func(done, total int)) ([][2]float64, error) {
	return r.runCalls(ctx, comps, hooks, progress, nil)
}

// runCalls is run that makes only the batched calls, of comparisons
// from..upto−1, for which only (when not nil) returns true; the others'
// results stay zero. The calls are the same whatever only says, so that
// shards of the calls compute what one process computes.
func (r *runner) runCalls(ctx context.Context, comps []comparison, hooks func(c *comparison, branch int) *hook.Set, progress func(done, total int), only func(from, upto int) bool) ([][2]float64, error) {
	out := make([][2]float64, len(comps))
	// Groups of comparisons that share a first option (and name): their
	// prompts share a prefix. Several groups run in one batched call.
	var parts []part
	pending, from := 0, 0
	flush := func(upto int) error {
		if len(parts) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if only != nil && !only(from, upto) {
			parts, pending, from = parts[:0], 0, upto
			return nil
		}
		if err := r.runParts(parts, hooks, out[from:]); err != nil {
			return err
		}
		if progress != nil {
			progress(upto, len(comps))
		}
		parts, pending, from = parts[:0], 0, upto
		return nil
	}
	for start := 0; start < len(comps); {
		end := start + 1
		for end < len(comps) && comps[end].i == comps[start].i && comps[end].name == comps[start].name {
			end++
		}
		group := comps[start:end]
		// The shared prefix: at least one prompt token left per branch, and
		// nothing of a second option (whose steering can differ).
		p := len(group[0].prompt) - 1
		for _, c := range group {
			p = min(p, lcp(group[0].prompt, c.prompt), c.spanB.From)
		}
		for s := 0; s < len(group); s += r.batch {
			parts = append(parts, part{comps: group[s:min(s+r.batch, len(group))], p: p})
			pending += min(r.batch, len(group)-s)
			if pending >= r.batch {
				if err := flush(start + min(s+r.batch, len(group))); err != nil {
					return nil, err
				}
			}
		}
		start = end
	}
	if err := flush(len(comps)); err != nil {
		return nil, err
	}
	return out, nil
}

// part is comparisons whose prompts share their first p tokens.
type part struct {
	comps []comparison
	p     int
}

func lcp(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// runParts scores the comparisons of parts, in order, into out: each part's
// shared prefix once, then every comparison's rest of the prompt from a
// copy of its prefix's cache, then each option's continuation from a copy
// of that; every step batched over all parts.
func (r *runner) runParts(parts []part, hooks func(c *comparison, branch int) *hook.Set, out [][2]float64) error {
	m := r.m.Transformer
	var all []*comparison
	var hs []*hook.Set
	var prefixes []*arch.Seq
	owner := []int{} // part of each comparison
	for pi := range parts {
		pt := &parts[pi]
		first := len(hs)
		for k := range pt.comps {
			c := &pt.comps[k]
			all = append(all, c)
			owner = append(owner, pi)
			var h *hook.Set
			if hooks != nil {
				h = hooks(c, -1)
			}
			hs = append(hs, h)
		}
		// The prefix holds the first option and nothing of the second, so
		// the first comparison's hooks steer it as every comparison's would.
		prefixes = append(prefixes, &arch.Seq{Cache: m.NewCache(), Tokens: pt.comps[0].prompt[:pt.p], Hooks: hs[first]})
		r.tokens += int64(pt.p)
	}
	if err := m.Forward(prefixes); err != nil {
		return err
	}
	// The rest of each prompt: logits at its last position.
	seqs := make([]*arch.Seq, len(all))
	for k, c := range all {
		p := parts[owner[k]].p
		seqs[k] = &arch.Seq{Cache: prefixes[owner[k]].Cache.Clone(len(c.prompt) - p + max(len(c.contA), len(c.contB))),
			Tokens: c.prompt[p:], Hooks: hs[k], Logits: arch.LastLogits}
		r.tokens += int64(len(c.prompt) - p)
	}
	if err := m.Forward(seqs); err != nil {
		return err
	}
	// Each continuation but its last token, from a copy of the prompt's cache.
	var conts []*arch.Seq
	first := make([][]float32, len(all))
	for k, c := range all {
		first[k] = slices.Clone(seqs[k].Out)
		for o, ct := range [][]int{c.contA, c.contB} {
			if len(ct) > 1 {
				var h *hook.Set
				if hooks != nil {
					h = hooks(c, o)
				}
				conts = append(conts, &arch.Seq{Cache: seqs[k].Cache.Clone(len(ct)), Tokens: ct[:len(ct)-1], Hooks: h, Logits: arch.AllLogits})
				r.tokens += int64(len(ct) - 1)
			}
		}
	}
	if len(conts) > 0 {
		if err := m.Forward(conts); err != nil {
			return err
		}
	}
	v := m.Vocab
	ci := 0
	tmp := make([]float32, v)
	logSumExp := func(row []float32) float64 { return kernels.LogSumExp(row, tmp) }
	for k, c := range all {
		lse := logSumExp(first[k]) // shared by both options' first token
		for o, ct := range [][]int{c.contA, c.contB} {
			lp := float64(first[k][ct[0]]) - lse
			if len(ct) > 1 {
				rows := conts[ci].Out
				for t := 1; t < len(ct); t++ {
					row := rows[(t-1)*v : t*v]
					lp += float64(row[ct[t]]) - logSumExp(row)
				}
				ci++
			}
			out[k][o] = lp
		}
	}
	return nil
}

// readouts reads every emotion on each activity's own tokens, averaged over
// the tokens and layers.
func (r *runner) readouts(ctx context.Context, protocol string, acts []string, name string, pack *vecpack.Pack, kind vecpack.Kind, emos []string, layers []int) (map[string][]float64, string, error) {
	readers := make([]*readout.Reader, len(layers))
	metric := "z" // when every layer has a neutral baseline, else projections
	for li, l := range layers {
		rd, err := readout.NewReader(pack, l, emos, kind)
		if err != nil {
			return nil, "", err
		}
		readers[li] = rd
		if !rd.HasBaseline() {
			metric = "proj"
		}
	}
	out := map[string][]float64{}
	for _, e := range emos {
		out[e] = make([]float64, len(acts))
	}
	for ai, act := range acts {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		var text, marker string
		if protocol == ProtocolChat {
			user := fmt.Sprintf("How would you feel about %s?", act)
			var err error
			if text, err = chat.Render(r.tok, []chat.Message{{Role: "user", Content: user}}, true); err != nil {
				return nil, "", err
			}
			marker = "about " + act
		} else {
			text = fmt.Sprintf("%s was going to %s.", name, act)
			marker = "going to " + act
		}
		ids := r.encode(text)
		sp, err := r.span(ids, marker, act)
		if err != nil {
			return nil, "", err
		}
		hs := &hook.Set{}
		sums := make([]float64, len(emos))
		for _, rd := range readers {
			hs.Add(rd.Point(), rd.Hook(func(pos int, sc *readout.Scores) {
				if pos < sp.From || pos >= sp.To {
					return
				}
				vals := sc.Proj
				if metric == "z" {
					vals = sc.Z
				}
				for ei, v := range vals {
					sums[ei] += float64(v)
				}
			}))
		}
		if err := r.m.Transformer.Forward([]*arch.Seq{{Cache: r.m.NewCache(), Tokens: ids, Hooks: hs}}); err != nil {
			return nil, "", err
		}
		r.tokens += int64(len(ids))
		nTok := float64((sp.To - sp.From) * len(layers))
		for ei, e := range emos {
			out[e][ai] = sums[ei] / nTok
		}
	}
	return out, metric, nil
}

// SortedElo lists activities by Elo, highest first.
func (r *Result) SortedElo() []string {
	out := slices.Clone(r.Activities)
	sort.SliceStable(out, func(a, b int) bool { return r.Elo[out[a]] > r.Elo[out[b]] })
	return out
}
