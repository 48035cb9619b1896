package scaling

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Setting is one way of making and reading stories.
type Setting struct {
	Axis     string  `json:"axis"` // n, length, openings, offset, denoise, best
	Label    string  `json:"label"`
	Pool     string  `json:"pool"` // main, long, an opening set, or mixed
	PerEmo   int     `json:"train_per_emotion"`
	Offset   int     `json:"offset"`
	Length   int     `json:"length"` // tokens per story (the window's end)
	Fraction float64 `json:"variance_fraction"`
	Openings string  `json:"openings"`
}

// Score is a set's classification at one layer.
type Score struct {
	Layer int     `json:"layer"`
	Top1  float64 `json:"top1"`
	Top5  float64 `json:"top5"`
}

// Row is a setting's figures.
type Row struct {
	Setting
	// At the best layer (validate's rule: highest model-written top-1 over
	// the single layers).
	BestLayer   int      `json:"best_layer"`
	Top1        float64  `json:"top1"`
	Top5        float64  `json:"top5"`
	HandTop1    float64  `json:"hand_top1"`
	HandTop5    float64  `json:"hand_top5"`
	PC1Rho      *float64 `json:"pc1_valence_spearman"` // null where undefined
	PC1Sign     *float64 `json:"pc1_sign_agreement"`
	PC1Share    float64  `json:"pc1_explained"`
	ARI         *float64 `json:"kmeans_ari"`
	HeldOut     int      `json:"heldout_stories"`
	Hand        int      `json:"hand_stories"`
	PerLayer    []Score  `json:"per_layer"`      // model-written, every single layer then mid
	HandLayer   []Score  `json:"hand_per_layer"` // hand-written, likewise
	BestHand    Score    `json:"best_hand"`      // the hand-written set's best single layer
	Seconds     float64  `json:"est_seconds"`    // estimated time of limbic run's stories and extraction for this setting
	Probe       *Row     `json:"probe,omitempty"`
	probeSource *trainSet
}

// Result is the study.
type Result struct {
	Model    string   `json:"model"`
	Emotions []string `json:"emotions"`
	Topics   int      `json:"topics"`
	Layers   []int    `json:"layers"`
	MidLayer []int    `json:"mid_layers"` // the layers averaged into "mid"
	Rates    Rates    `json:"rates"`
	Pools    []string `json:"pools"`
	Rows     []Row    `json:"rows"`
	Best     *Row     `json:"best"`
	Seconds  float64  `json:"seconds"`
	Config   struct {
		PerTopic, MaxTokens, LongPerTopic, VariantPerTopic, NeutralPerTopic int
		Seed                                                                uint64
	} `json:"config"`
}

// study holds what Run read.
type study struct {
	c       *Config
	m       *model.Model
	info    vecpack.ModelInfo
	layers  []int
	labels  []int // layers plus the mid label
	feats   map[string][]feature
	wins    map[string][]window
	neutral [][]*extract.Moments // [neutral window][layer]
	nwins   []window
	hand    []feature
	hwins   []window // hand-written windows: one per offset
	rates   Rates
	genTok  map[string]float64 // mean generated tokens per story, per pool and window
	readTok map[string]float64 // mean tokens read per story (prefix included), per pool and window
}

// Run makes the pools (resuming what exists), reads them and evaluates every
// setting.
func Run(ctx context.Context, m *model.Model, c Config) (*Result, error) {
	c.Defaults()
	if err := c.Check(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	rates, err := c.generate(ctx, m)
	if err != nil {
		return nil, err
	}
	s := &study{c: &c, m: m, rates: rates, feats: map[string][]feature{}, wins: map[string][]window{},
		genTok: map[string]float64{}, readTok: map[string]float64{}}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	res := &Result{Model: m.Name, Emotions: c.Emotions, Topics: len(c.Topics), Layers: s.layers, Rates: s.rates}
	res.Config.PerTopic, res.Config.MaxTokens, res.Config.LongPerTopic = c.PerTopic, c.MaxTokens, c.LongPerTopic
	res.Config.VariantPerTopic, res.Config.NeutralPerTopic, res.Config.Seed = c.VariantPerTopic, c.NeutralPerTopic, c.Seed
	for _, p := range c.pools() {
		res.Pools = append(res.Pools, p.Name)
	}
	for _, i := range s.midPositions() {
		res.MidLayer = append(res.MidLayer, s.layers[i])
	}
	settings := s.settings()
	for i, st := range settings {
		if c.Progress != nil {
			c.Progress("settings", i, len(settings))
		}
		row, err := s.evaluate(st)
		if err != nil {
			return nil, fmt.Errorf("scaling: %s %s: %w", st.Axis, st.Label, err)
		}
		res.Rows = append(res.Rows, *row)
	}
	// The best combination: the best value of every axis together.
	if best, ok := s.combine(res.Rows); ok {
		row, err := s.evaluate(best)
		if err != nil {
			return nil, fmt.Errorf("scaling: best: %w", err)
		}
		res.Rows = append(res.Rows, *row)
		res.Best = &res.Rows[len(res.Rows)-1]
	}
	if c.Progress != nil {
		c.Progress("settings", len(settings), len(settings))
	}
	if c.Probe != nil {
		for i := range res.Rows {
			r := &res.Rows[i]
			if r.Axis != "n" && r.Axis != "best" {
				continue
			}
			if err := s.probe(r); err != nil {
				return nil, fmt.Errorf("scaling: probe %s %s: %w", r.Axis, r.Label, err)
			}
		}
	}
	res.Seconds = math.Round(time.Since(t0).Seconds()*10) / 10
	return res, nil
}

// midPositions are the positions in s.layers averaged into "mid": the
// middle third of the model's layers (at least one).
func (s *study) midPositions() []int { return midOf(s.layers, s.m.Layers) }

func midOf(layers []int, n int) []int {
	lo, hi := int(math.Round(float64(n)/3)), int(math.Round(2*float64(n)/3))
	var out []int
	for i, l := range layers {
		if l >= lo && l <= hi {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		out = []int{len(layers) / 2}
	}
	return out
}

// readLayers are the model layers the study reads: all of them up to 12,
// else 12 spread evenly.
func readLayers(n int) []int {
	if n <= 12 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := 0; i < 12; i++ {
		l := int(math.Round(float64(i) * float64(n-1) / 11))
		if len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
	}
	return out
}

func (s *study) read(ctx context.Context) error {
	c := s.c
	s.layers = readLayers(s.m.Layers)
	s.labels = append(slices.Clone(s.layers), s.m.Layers) // mid is labelled one past the last layer
	s.info = vecpack.ModelInfo{ID: s.m.Name, DModel: s.m.Dim, NLayers: s.m.Layers + 1}
	rd := &reader{r: pipeline.Runner{M: s.m}, layers: s.layers, d: s.m.Dim, batch: 8}
	rd.mid = s.midPositions()
	// Windows: the main pool is read from each offset to its end and over
	// its first L tokens for every length L below its own; the long pool
	// over its first L tokens for every length; the neutral texts as the
	// stories they denoise; the hand-written stories from each offset on.
	var mainWins, longWins []window
	for _, o := range c.Offsets {
		mainWins = append(mainWins, window{Offset: o})
		s.nwins = append(s.nwins, window{Offset: o, End: c.MaxTokens})
		s.hwins = append(s.hwins, window{Offset: o})
	}
	for _, l := range c.Lengths {
		longWins = append(longWins, window{End: l})
		if l < c.MaxTokens {
			mainWins = append(mainWins, window{End: l})
		}
		if l != c.MaxTokens {
			s.nwins = append(s.nwins, window{End: l})
		}
	}
	t0 := time.Now()
	tok0 := rd.tokens
	for _, p := range c.pools() {
		texts, err := c.loadTexts(p)
		if err != nil {
			return err
		}
		prog := func(done int) {
			if c.Progress != nil {
				c.Progress("read: "+p.Name, done, len(texts))
			}
		}
		switch p.Name {
		case "neutral":
			s.neutral, err = rd.moments(ctx, texts, s.nwins, prog)
			if err != nil {
				return err
			}
			continue
		case "long":
			s.wins[p.Name] = longWins
		case "main":
			s.wins[p.Name] = mainWins
		default:
			s.wins[p.Name] = []window{{}}
		}
		// Mean generated and read tokens per story, for the time estimates.
		tok, err := s.m.Tokenizer()
		if err != nil {
			return err
		}
		textLen, prefixLen := make([]int, len(texts)), make([]int, len(texts))
		for i, t := range texts {
			textLen[i], prefixLen[i] = len(tok.Encode(t.Text.Text, false)), len(tok.Encode(t.Prefix, tok.DefaultAddBOS()))
		}
		for w, win := range s.wins[p.Name] {
			var gen, read float64
			for i := range texts {
				n := textLen[i]
				if win.End > 0 {
					n = min(n, win.End)
				}
				gen += float64(n)
				read += float64(n + prefixLen[i])
			}
			key := fmt.Sprintf("%s/%d", p.Name, w)
			s.genTok[key], s.readTok[key] = gen/float64(len(texts)), read/float64(len(texts))
		}
		if s.feats[p.Name], err = rd.means(ctx, texts, s.wins[p.Name], prog); err != nil {
			return err
		}
	}
	s.rates.ReadTokens, s.rates.ReadSeconds = rd.tokens-tok0, time.Since(t0).Seconds()
	var hand []text
	for _, h := range catalog.Handwritten() {
		if e := slices.Index(c.Emotions, h.Emotion); e >= 0 {
			hand = append(hand, text{Text: extract.Text{Text: h.Text}, Emotion: e, Topic: -1, ID: h.ID})
		}
	}
	if len(hand) == 0 {
		return nil
	}
	var err error
	s.hand, err = rd.means(ctx, hand, s.hwins, nil)
	return err
}

// settings are the one-axis-at-a-time settings around the base.
func (s *study) settings() []Setting {
	c := s.c
	base := Setting{Pool: "main", PerEmo: c.Base, Offset: 0, Length: c.MaxTokens, Fraction: c.BaseFraction, Openings: "because"}
	var out []Setting
	for _, n := range c.Sizes {
		st := base
		st.Axis, st.Label, st.PerEmo = "n", fmt.Sprintf("%d per emotion", n), n
		out = append(out, st)
	}
	// Sizes × the lengths below the main pool's own, from the main pool.
	for _, n := range c.Sizes {
		for _, l := range c.Lengths {
			if l >= c.MaxTokens {
				continue
			}
			st := base
			st.Axis, st.Label, st.PerEmo, st.Length = "n×length", fmt.Sprintf("%d per emotion, %d tokens", n, l), n, l
			out = append(out, st)
		}
	}
	// Lengths from the long pool when there is one (every length), else
	// from the main pool (lengths up to its own).
	for _, l := range c.Lengths {
		st := base
		st.Axis, st.Label, st.Length = "length", fmt.Sprintf("%d tokens", l), l
		if c.hasLong() {
			st.Pool, st.PerEmo = "long", (c.LongPerTopic-1)*len(c.Topics)
		} else if l > c.MaxTokens {
			continue
		}
		out = append(out, st)
	}
	perVar := (c.VariantPerTopic - 1) * len(c.Topics)
	if len(c.Openings) > 0 {
		st := base
		st.Axis, st.Label, st.PerEmo = "openings", "because", min(perVar, c.Base)
		out = append(out, st)
		for _, o := range c.Openings {
			st := base
			st.Axis, st.Label, st.Pool, st.PerEmo, st.Openings = "openings", o, o, perVar, o
			out = append(out, st)
		}
	}
	for _, o := range c.Offsets {
		st := base
		st.Axis, st.Label, st.Offset = "offset", fmt.Sprintf("offset %d", o), o
		out = append(out, st)
	}
	for _, f := range c.Fractions {
		st := base
		st.Axis, st.Fraction = "denoise", f
		st.Label = fmt.Sprintf("%.0f%% of neutral variance", 100*f)
		if f == 0 {
			st.Label = "off"
		}
		out = append(out, st)
	}
	return out
}

// combine picks the best setting of the main pool. Settings that read the
// same model-written held-out set (sizes at one length, denoising) are
// ranked by quality, the mean of both sets' top-1; settings that change
// that set (the length, the offset) by the hand-written set alone, the one
// test that stays the same, ties going to the higher model-written top-1.
func (s *study) combine(rows []Row) (Setting, bool) {
	bestAt := map[int]*Row{} // per length: the best size
	var off, den *Row
	for i := range rows {
		r := &rows[i]
		switch r.Axis {
		case "n", "n×length":
			if b := bestAt[r.Length]; b == nil || quality(*r) > quality(*b) {
				bestAt[r.Length] = r
			}
		case "offset":
			if off == nil || byHand(*r, *off) {
				off = r
			}
		case "denoise":
			if den == nil || quality(*r) > quality(*den) {
				den = r
			}
		}
	}
	var sz *Row
	for _, r := range bestAt {
		if sz == nil || byHand(*r, *sz) || !byHand(*sz, *r) && r.Length > sz.Length {
			sz = r
		}
	}
	if sz == nil {
		return Setting{}, false
	}
	st := sz.Setting
	st.Axis = "best"
	if off != nil && st.Length == s.c.MaxTokens {
		st.Offset = off.Offset
	}
	if den != nil {
		st.Fraction = den.Fraction
	}
	st.Label = fmt.Sprintf("%d per emotion, %d tokens, offset %d, %.0f%% denoised", st.PerEmo, st.Length, st.Offset, 100*st.Fraction)
	return st, true
}

// quality ranks settings that share the model-written held-out set: the
// mean of the two sets' top-1 (the model-written one alone without
// hand-written stories).
func quality(r Row) float64 {
	if r.Hand == 0 {
		return r.Top1
	}
	return (r.Top1 + r.HandTop1) / 2
}

// byHand reports whether a ranks above b on the hand-written set (then the
// model-written one); without hand-written stories, on the model-written.
func byHand(a, b Row) bool {
	if a.Hand > 0 && a.HandTop1 != b.HandTop1 {
		return a.HandTop1 > b.HandTop1
	}
	return a.Top1 > b.Top1
}

// trainSet is a setting's training and held-out stories.
type trainSet struct {
	train, held []feature
	win         int
	nwin        int // neutral window
	hwin        int // hand-written window
}

// select picks a setting's stories: index 0 of every (emotion, topic) is
// held out; training takes indices 1.. up to PerEmo per emotion.
func (s *study) selectSet(st Setting) (*trainSet, error) {
	c := s.c
	perTopic := st.PerEmo / len(c.Topics)
	pw := window{Offset: st.Offset, End: st.Length}
	if st.Pool != "long" && st.Length == c.MaxTokens {
		pw.End = 0 // the whole story
	}
	ts := &trainSet{nwin: slices.Index(s.nwins, window{Offset: st.Offset, End: st.Length}), hwin: slices.Index(s.hwins, window{Offset: st.Offset})}
	if ts.nwin < 0 || ts.hwin < 0 {
		return nil, fmt.Errorf("no neutral or hand-written window for offset %d, length %d", st.Offset, st.Length)
	}
	parts := []string{st.Pool}
	if st.Pool == "mixed" {
		// Story i of topic t from pool (t + i) mod len(parts).
		parts = []string{"main"}
		for _, o := range c.Openings {
			if o != "mixed" {
				parts = append(parts, o)
			}
		}
	}
	for k, pname := range parts {
		fs, ok := s.feats[pname]
		if !ok {
			return nil, fmt.Errorf("no pool %q", pname)
		}
		if ts.win = slices.Index(s.wins[pname], pw); ts.win < 0 {
			return nil, fmt.Errorf("pool %s has no window %s", pname, pw)
		}
		for _, f := range fs {
			switch {
			case f.Means[ts.win] == nil:
			case f.Index == 0:
				ts.held = append(ts.held, f)
			case f.Index > perTopic:
			case len(parts) == 1 || f.Topic%len(parts) == (k+len(parts)-f.Index%len(parts))%len(parts):
				ts.train = append(ts.train, f)
			}
		}
	}
	return ts, nil
}

func (s *study) evaluate(st Setting) (*Row, error) {
	ts, err := s.selectSet(st)
	if err != nil {
		return nil, err
	}
	pack, held, err := s.build(ts, st.Fraction)
	if err != nil {
		return nil, err
	}
	row := &Row{Setting: st, HeldOut: held.Len()}
	opt := validate.Options{Layers: s.layers, Restarts: 3}
	res, err := validate.Run(pack, held, opt)
	if err != nil {
		return nil, err
	}
	at := res.All
	row.BestLayer, row.Top1, row.Top5, row.PC1Share = res.BestLayer, at.Top1, at.Top5, at.PC1Explained
	row.PC1Rho, row.PC1Sign, row.ARI = at.PC1ValenceSpearman, at.PC1SignAgreement, at.ARI
	// The mid pseudo-layer apart, so that it is never the best layer.
	mid, err := validate.Run(pack, held, validate.Options{Layers: s.labels[len(s.layers):], Restarts: 1})
	if err != nil {
		return nil, err
	}
	for _, l := range append(res.Layers, mid.Layers...) {
		row.PerLayer = append(row.PerLayer, Score{Layer: l.Layer, Top1: l.All.Top1, Top5: l.All.Top5})
	}
	if hand := s.handSet(ts.hwin); hand != nil {
		sc, err := validate.Score(pack, hand, "hand-written", validate.Options{Layers: s.labels})
		if err != nil {
			return nil, err
		}
		row.Hand = sc.Stories
		row.BestHand.Top1 = -1
		for _, l := range sc.Layers {
			row.HandLayer = append(row.HandLayer, Score{Layer: l.Layer, Top1: l.Top1, Top5: l.Top5})
			if l.Layer == row.BestLayer {
				row.HandTop1, row.HandTop5 = l.Top1, l.Top5
			}
			if l.Layer < s.m.Layers && l.Top1 > row.BestHand.Top1 {
				row.BestHand = Score{Layer: l.Layer, Top1: l.Top1, Top5: l.Top5}
			}
		}
	}
	row.Seconds = s.estimate(st, ts)
	row.probeSource = ts
	return row, nil
}

// build makes a setting's pack and model-written held-out set.
func (s *study) build(ts *trainSet, fraction float64) (*vecpack.Pack, *vecpack.HeldOut, error) {
	c := s.c
	acc := extract.NewAccumulator(c.Emotions, s.labels, s.m.Dim)
	for _, f := range ts.train {
		if err := acc.Add(f.Emotion, f.Means[ts.win]); err != nil {
			return nil, nil, err
		}
	}
	held := vecpack.NewHeldOut(s.info, c.Emotions, s.labels)
	for _, f := range ts.held {
		if err := held.Add(f.ID, f.Emotion, f.Means[ts.win]); err != nil {
			return nil, nil, err
		}
	}
	dn := extract.Denoise{Fraction: fraction}
	neutral := s.neutral[ts.nwin]
	v, err := extract.Build(acc, neutral, dn)
	if err != nil {
		return nil, nil, err
	}
	p, err := v.Pack(extract.PackOptions{Model: s.info, Denoise: dn, Acc: acc, HeldOut: held})
	if err != nil {
		return nil, nil, err
	}
	return p, held, nil
}

// handSet is the hand-written stories averaged over hand-written window w.
func (s *study) handSet(w int) *vecpack.HeldOut {
	if len(s.hand) == 0 {
		return nil
	}
	h := vecpack.NewHeldOut(s.info, s.c.Emotions, s.labels)
	for _, f := range s.hand {
		if f.Means[w] != nil {
			_ = h.Add(f.ID, f.Emotion, f.Means[w])
		}
	}
	if h.Len() == 0 {
		return nil
	}
	return h
}

// estimate is the time limbic run would spend making and reading a
// setting's stories: its training stories plus a fifth held out (the
// pipeline's split), each generated to the setting's length and read with
// its opening, at the measured rates.
func (s *study) estimate(st Setting, ts *trainSet) float64 {
	gr, rr := s.rates.GenRate(), s.rates.ReadRate()
	if gr <= 0 || rr <= 0 {
		return 0 // unmeasured
	}
	stories := float64(st.PerEmo*len(s.c.Emotions)) / 0.8
	pool := st.Pool
	if pool == "mixed" {
		pool = "main"
	}
	key := fmt.Sprintf("%s/%d", pool, ts.win)
	if st.Pool != "long" && st.Length == s.c.MaxTokens {
		key = pool + "/0" // generated tokens do not depend on the offset
	}
	return stories * (s.genTok[key]/gr + s.readTok[key]/rr)
}

// sortRows orders rows by axis then as made (for tables).
func sortRows(rows []Row) {
	order := map[string]int{"n": 0, "n×length": 1, "length": 2, "openings": 3, "offset": 4, "denoise": 5, "best": 6}
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].Axis] < order[rows[j].Axis] })
}
