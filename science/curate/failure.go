package curate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// FailureOpenings are story openings, in the register of the TinyStories
// the embedded model was trained on, in which a character meets failure:
// the model's own continuations of them are the pool the curation
// experiment's training sets are drawn from.
var FailureOpenings = []string{
	"Tom built a tall tower of blocks. He put one more block on top, and the whole tower fell down.",
	"Lily ran as fast as she could, but the other children reached the tree first. Lily lost the race.",
	"Ben had a big puzzle of a farm. He tried and tried, but the last piece would not fit.",
	"Mia wanted to fly her new kite. She ran across the park, but the kite fell to the ground again and again.",
	"Sam made a sand castle by the sea. Then a big wave came and washed it all away.",
	"Anna tried to ride her bike without help. She wobbled and fell over on the grass.",
	"Max drew a picture of his dog for his mom. He spilled his juice on it, and the colors ran together.",
	"Lucy practiced her song every day. At the show she forgot the words and everyone was quiet.",
	"Jack tried to climb the big tree like his brother. His foot slipped and he slid back down.",
	"Emma baked cookies for her friends. When she opened the oven, the cookies were black and burnt.",
	"Tim wanted to catch a fish. He sat by the pond all morning, but he did not catch a single one.",
	"Sara tried to tie her shoes by herself. The laces got tangled into a big knot.",
	"Leo built a paper boat and put it in the stream. It tipped over and sank.",
	"Zoe wanted to win the spelling game at school. She spelled the word wrong and had to sit down.",
	"Ollie tried to jump over the puddle. He did not jump far enough and landed with a splash.",
	"Kate planted a seed in a little pot. She watered it every day, but nothing grew.",
	"Nick tried to carry all the eggs at once. He tripped, and the eggs broke on the floor.",
	"Ella was learning to swim. She tried to float, but she kept sinking and swallowing water.",
	"Jake made a card for his teacher. When he held it up, it tore right down the middle.",
	"Rosie tried to catch the ball in the game. It bounced off her hands and her team lost.",
	"Finn wanted to reach the cookie jar on the high shelf. He stood on his toes, but he could not reach it.",
	"Amy tried to whistle like her dad. She blew and blew, but no sound came out.",
	"Danny built a robot out of boxes. When he pressed the button, it did not move at all.",
	"Grace wanted to paint a rainbow. She mixed the colors, and they all turned brown.",
}

// Doc is one document of a curated set: its text (the opening and its
// continuation, or an opening alone for the held-out set) and, for
// generated documents, its readouts.
type Doc struct {
	Text      string  `json:"text"`
	Opening   int     `json:"opening"`             // index in the openings
	Seed      uint64  `json:"seed,omitempty"`      // sampling seed of the continuation
	Tokens    int     `json:"tokens"`              // tokens of Text, BOS included
	Calm      float64 `json:"calm,omitempty"`      // mean readout over the continuation
	Desperate float64 `json:"desperate,omitempty"` // idem
}

// FailureOptions configure BuildFailureSets. Zero values are the defaults
// given with each field.
type FailureOptions struct {
	Openings   []string // default FailureOpenings
	Calm       string   // emotion of the calm set; default "calm"
	Desperate  string   // emotion of the desperate set; default "desperate"
	HeldOut    int      // openings kept out of training; default a quarter
	PerOpening int      // continuations per training opening; default 16
	MaxTokens  int      // most tokens per continuation; default 120
	Temp       float64  // sampling temperature; default 1
	TopP       float64  // nucleus; default 0.95
	Seed       uint64   // drives the held-out split and the sampling
	Keep       int      // continuations of each opening in each set; default PerOpening/4
	// Tolerance is the largest relative difference in token count between
	// the sets that balancing accepts; default 0.02.
	Tolerance float64
	Score     ScoreOptions // the readout (BestLayer is set when Layer is 0 and the pack has a best layer)
	// Progress, when set, is told of each stage.
	Progress func(stage string, done, total int)
}

func (o *FailureOptions) defaults() {
	if o.Openings == nil {
		o.Openings = FailureOpenings
	}
	if o.Calm == "" {
		o.Calm = "calm"
	}
	if o.Desperate == "" {
		o.Desperate = "desperate"
	}
	if o.HeldOut == 0 {
		o.HeldOut = len(o.Openings) / 4
	}
	if o.PerOpening == 0 {
		o.PerOpening = 16
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 120
	}
	if o.Temp == 0 {
		o.Temp = 1
	}
	if o.TopP == 0 {
		o.TopP = 0.95
	}
	if o.Tolerance == 0 {
		o.Tolerance = 0.02
	}
}

// BuildFailureSets makes the training sets of the curation experiment:
// the model's own continuations of failure openings (PerOpening seeded
// samples of each opening not held out), read with the pack over the
// continuation tokens (z-scores when the pack has a neutral baseline,
// else cosines), and ranked per opening by desperate − calm. The calm set
// takes the Keep lowest of each opening (the character stays calm and
// keeps trying), the desperate set the Keep highest, so both sets have the
// same size and the same openings; documents are then swapped for others
// of the same opening and half of the ranking until the sets' token counts
// differ by at most Tolerance (when swaps can get there). heldout holds
// the held-out openings. The result depends only on the model, the pack
// and the options.
func BuildFailureSets(ctx context.Context, m *model.Model, p *vecpack.Pack, o FailureOptions) (calm, desperate, heldout []Doc, err error) {
	o.defaults()
	for _, e := range []string{o.Calm, o.Desperate} {
		if _, err := p.EmotionIndex(e); err != nil {
			return nil, nil, nil, fmt.Errorf("curate: failure sets: %w (the pack has %s)", err, strings.Join(p.Meta.Emotions, ", "))
		}
	}
	if o.HeldOut < 0 || o.HeldOut >= len(o.Openings) {
		return nil, nil, nil, fmt.Errorf("curate: failure sets: %d held-out openings of %d", o.HeldOut, len(o.Openings))
	}
	if o.Score.Layer == 0 && !o.Score.BestLayer {
		o.Score.BestLayer = true
	}
	s, err := NewScorer(m, p, o.Score)
	if err != nil {
		return nil, nil, nil, err
	}

	// The held-out split: a seeded shuffle of the openings.
	rng := rand.New(rand.NewPCG(o.Seed, 0x6375726174))
	order := rng.Perm(len(o.Openings))
	held := map[int]bool{}
	for _, i := range order[:o.HeldOut] {
		held[i] = true
	}
	for i, op := range o.Openings {
		if held[i] {
			heldout = append(heldout, Doc{Text: op, Opening: i, Tokens: len(m.Tok.Encode(op, m.Tok.DefaultAddBOS()))})
		}
	}

	// The pool: continuations of the training openings.
	var (
		reqs  []model.Request
		docs  []Doc
		from  []int
		stops = m.StopIDs()
	)
	for i, op := range o.Openings {
		if held[i] {
			continue
		}
		prompt := m.Tok.Encode(op, m.Tok.DefaultAddBOS())
		for k := range o.PerOpening {
			seed := o.Seed*1_000_003 + uint64(i)*1000 + uint64(k)
			reqs = append(reqs, model.Request{Prompt: prompt, Max: o.MaxTokens, Stop: stops,
				Sampling: model.Sampling{Temp: o.Temp, TopP: o.TopP, Seed: seed}})
			docs = append(docs, Doc{Opening: i, Seed: seed})
			from = append(from, len(prompt))
		}
	}
	const genBatch = 32
	for lo := 0; lo < len(reqs); lo += genBatch {
		hi := min(lo+genBatch, len(reqs))
		res, err := model.Generate(ctx, m.Transformer, reqs[lo:hi], nil)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("curate: failure sets: generating: %w", err)
		}
		for j, r := range res {
			// Decoding the continuation alone would drop its leading space.
			d := &docs[lo+j]
			prompt := reqs[lo+j].Prompt
			pre, full := m.Tok.Decode(prompt), m.Tok.Decode(append(slices.Clone(prompt), r.IDs...))
			cont, ok := strings.CutPrefix(full, pre)
			if !ok {
				return nil, nil, nil, fmt.Errorf("curate: failure sets: the continuation of opening %d does not decode after it", d.Opening)
			}
			d.Text = o.Openings[d.Opening] + cont
			d.Tokens = len(m.Tok.Encode(d.Text, m.Tok.DefaultAddBOS()))
		}
		if o.Progress != nil {
			o.Progress("generating", hi, len(reqs))
		}
	}
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	if o.Progress != nil {
		o.Progress("scoring", 0, len(docs))
	}
	scores, err := s.ScoreDocs(ctx, texts, from)
	if err != nil {
		return nil, nil, nil, err
	}
	if o.Progress != nil {
		o.Progress("scoring", len(docs), len(docs))
	}
	for i, sc := range scores {
		vals := sc.Cos
		if sc.Z != nil {
			vals = sc.Z
		}
		docs[i].Calm, docs[i].Desperate = vals[o.Calm], vals[o.Desperate]
	}

	// Per opening, rank the continuations by desperate − calm; the calm set
	// takes the bottom Keep of each opening, the desperate set the top Keep,
	// so both sets continue the same openings equally often.
	q := o.Keep
	if q == 0 {
		q = max(1, o.PerOpening/4)
	}
	if 2*q > o.PerOpening {
		return nil, nil, nil, fmt.Errorf("curate: failure sets: %d documents per opening in each set from %d continuations", q, o.PerOpening)
	}
	gap := func(i int) float64 { return docs[i].Desperate - docs[i].Calm }
	var groups []group
	for lo := 0; lo < len(docs); lo += o.PerOpening {
		idx := make([]int, o.PerOpening)
		for k := range idx {
			idx[k] = lo + k
		}
		sort.SliceStable(idx, func(a, b int) bool { return gap(idx[a]) < gap(idx[b]) })
		half := o.PerOpening / 2
		top := slices.Clone(idx[len(idx)-half:])
		slices.Reverse(top)
		groups = append(groups, group{calm: idx[:half], desperate: top})
	}
	cs, ds := balanceTokens(docs, groups, q, o.Tolerance)
	for _, i := range cs {
		calm = append(calm, docs[i])
	}
	for _, i := range ds {
		desperate = append(desperate, docs[i])
	}
	return calm, desperate, heldout, nil
}

// group is one opening's continuations: the calm half ranked calmest first,
// the desperate half most desperate first.
type group struct{ calm, desperate []int }

// balanceTokens takes the first q of each group's rankings and then, while
// the two selections' token counts differ by more than tol (relative),
// makes the swap of a selected document of the heavier set for an
// unselected one of the same opening and ranking half that most reduces
// the difference, preferring the better-ranked candidate on ties.
func balanceTokens(docs []Doc, groups []group, q int, tol float64) (sa, sb []int) {
	for _, g := range groups {
		sa = append(sa, g.calm[:q]...)
		sb = append(sb, g.desperate[:q]...)
	}
	sum := func(s []int) int {
		t := 0
		for _, i := range s {
			t += docs[i].Tokens
		}
		return t
	}
	for range 4 * len(sa) {
		ta, tb := sum(sa), sum(sb)
		diff := ta - tb
		if abs(diff) <= int(tol*float64(max(ta, tb))) {
			break
		}
		sel, calmSide := sa, true
		if diff < 0 {
			sel, calmSide, diff = sb, false, -diff
		}
		best, bx, by := diff, -1, -1
		for gi, g := range groups {
			rank := g.calm
			if !calmSide {
				rank = g.desperate
			}
			for x := gi * q; x < (gi+1)*q; x++ {
				i := sel[x]
				for _, j := range rank {
					if slices.Contains(sel[gi*q:(gi+1)*q], j) {
						continue
					}
					if d := abs(diff - (docs[i].Tokens - docs[j].Tokens)); d < best {
						best, bx, by = d, x, j
					}
				}
			}
		}
		if bx < 0 {
			break
		}
		sel[bx] = by
	}
	return sa, sb
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// WriteJSONL writes docs as {"text": ...} lines, the form limbic tune
// trains on, atomically.
func WriteJSONL(path string, docs []Doc) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, d := range docs {
			if err := enc.Encode(struct {
				Text string `json:"text"`
			}{d.Text}); err != nil {
				return err
			}
		}
		return nil
	})
}
