package extract

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Text is one text to run: Prefix is read first and never averaged.
type Text struct {
	Prefix string
	Text   string
}

// Runner runs texts through a model and exposes the residual stream; the
// engine implements it.
type Runner interface {
	// DModel and NumLayers describe the model.
	DModel() int
	NumLayers() int
	// Residuals runs every text as one sequence (BOS if the model uses one,
	// then Prefix, then Text, truncated to the context length if needed) and
	// calls visit once for every (text index i, requested layer) with that
	// text's hook_resid_post rows, row-major [T, d] where T is the sequence
	// length, and textStart, the index of the first token belonging to Text
	// (so BOS and Prefix tokens are before it). rows is only valid during the
	// call. Visits may come in any order. A visit error, or ctx being done,
	// stops the run and is returned.
	Residuals(ctx context.Context, texts []Text, layers []int, visit func(i, layer int, rows []float32, textStart int) error) error
}

// Input names what to read.
type Input struct {
	Model    vecpack.ModelInfo
	Emotions []string // the run's emotions; stories of other emotions are ignored
	Stories  []string // JSONL files of emotional stories
	Neutral  []string // JSONL files of neutral texts; none means no denoising
}

// Config is an extraction run's settings.
type Config struct {
	Window          Window
	Layers          []int // model layers to extract (nil = all)
	NeutralLayers   []int // layers with neutral statistics (nil = Layers); others are not denoised
	Denoise         Denoise
	HeldOut         float64 // held-out share for stories without a recorded split
	Batch           int     // texts per Residuals call (default 8)
	Checkpoint      string  // checkpoint path ("" = none)
	CheckpointEvery time.Duration
	Params          map[string]string // recorded in the pack
	// Shard restricts the run to one shard of the texts: a contiguous
	// block of the neutral texts' lines and one of the stories' lines
	// (shard.Shard.Range), so that the shards' held-out sets, concatenated
	// in shard order, are in file order. A sharded run (Count > 1) needs a
	// Checkpoint: it writes its state there, marked complete at the end,
	// and returns no vectors; MergeShards combines the shards' states.
	Shard shard.Shard
}

// DefaultConfig returns the paper's settings: offset 50, skip short stories,
// denoise at 50% neutral variance, 20% held out, a checkpoint every 30 s.
func DefaultConfig() Config {
	return Config{Window: Window{Offset: DefaultOffset, Short: ShortSkip}, Denoise: Denoise{Fraction: DefaultVarianceFraction},
		HeldOut: stories.DefaultHeldOut, Batch: 8, CheckpointEvery: 30 * time.Second}
}

// BaseStoryConfig returns settings for stories that a small base model wrote
// as continuations of an emotional opening (stories.StyleBase, the prefix
// never averaged): averaging starts at the first continuation token (Offset
// 0), because the opening has already set the emotion and such models drift
// away from it within a few dozen tokens, and the neutral PCs explaining 70%
// of the neutral variance are removed. On stories15M (16 core emotions, 32
// children's topics × 2 stories of at most 40 tokens, 40 neutral narrations,
// layer 3) this gave held-out top-1 43% and top-5 82% (chance 6%), against
// 37% and 78% with 50% of the variance removed, and 8% with Offset 50 and
// 120-token stories. Those settings were chosen on those held-out stories;
// on fresh stories (other seeds) they gave 48% and 41% top-1 (top-5 80%,
// 87%), and 44% (top-5 87%, 395 held-out) with 4 stories per topic.
func BaseStoryConfig() Config {
	c := DefaultConfig()
	c.Window.Offset = 0
	c.Denoise.Fraction = 0.7
	return c
}

// Stats counts the texts of a run.
type Stats struct {
	Train, HeldOut, Neutral int // texts averaged
	Skipped                 int // too short for the window (emotional and neutral)
	Ignored                 int // stories of emotions outside the run
	Repeated                int // IDs seen before (in another file or line)
	Resumed                 int // texts already done in the checkpoint when the run started
}

// Result is an extraction's output.
type Result struct {
	Vectors *Vectors
	Pack    *vecpack.Pack
	HeldOut *vecpack.HeldOut
	Stats   Stats
}

// Progress is told how many texts are done out of total.
type Progress func(done, total int)

// ErrNoStories is returned when the story files hold no stories at all.
var ErrNoStories = errors.New("extract: the story files hold no stories")

// Run reads the neutral texts and then the stories through r, accumulating
// running sums (training stories), per-story means (held-out stories) and
// neutral moments, and builds the vectors and the pack. Memory is bounded by
// the accumulators and one batch of activations. With a checkpoint path it
// saves its state every CheckpointEvery and when ctx is cancelled, and a later
// Run with the same model, emotions, layers and window resumes from it
// (texts are recognised by ID, so story files may have grown meanwhile).
// The denoising settings are not part of that identity: a run over a
// complete checkpoint reads no text and just rebuilds the vectors, which
// makes sweeping Denoise.Fraction cheap.
func Run(ctx context.Context, r Runner, in Input, cfg Config, progress Progress) (*Result, error) {
	d, nLayers := r.DModel(), r.NumLayers()
	if in.Model.DModel == 0 {
		in.Model.DModel = d
	}
	if in.Model.NLayers == 0 {
		in.Model.NLayers = nLayers
	}
	if in.Model.DModel != d || in.Model.NLayers != nLayers {
		return nil, fmt.Errorf("extract: model info says d=%d, %d layers; the runner has d=%d, %d layers",
			in.Model.DModel, in.Model.NLayers, d, nLayers)
	}
	if len(in.Emotions) == 0 {
		return nil, errors.New("extract: no emotions")
	}
	if len(in.Stories) == 0 {
		return nil, errors.New("extract: no story files")
	}
	layers := cfg.Layers
	if layers == nil {
		for l := 0; l < nLayers; l++ {
			layers = append(layers, l)
		}
	}
	if err := checkLayers(layers, nLayers); err != nil {
		return nil, err
	}
	neutralLayers := cfg.NeutralLayers
	if neutralLayers == nil {
		neutralLayers = layers
	}
	var neutralIdx []int
	for _, l := range neutralLayers {
		i := slices.Index(layers, l)
		if i < 0 {
			return nil, fmt.Errorf("extract: neutral layer %d is not an extracted layer", l)
		}
		neutralIdx = append(neutralIdx, i)
	}
	if len(in.Neutral) == 0 {
		neutralIdx = nil
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 8
	}
	if err := cfg.Window.Check(); err != nil {
		return nil, err
	}
	emoIdx := map[string]int{}
	for i, e := range in.Emotions {
		if _, dup := emoIdx[e]; dup {
			return nil, fmt.Errorf("extract: emotion %q listed twice", e)
		}
		emoIdx[e] = i
	}

	sharded := cfg.Shard.Count > 1
	if sharded {
		if err := cfg.Shard.Validate(); err != nil {
			return nil, fmt.Errorf("extract: %w", err)
		}
		if cfg.Checkpoint == "" {
			return nil, fmt.Errorf("extract: shard %s needs a checkpoint path to write its state to", cfg.Shard)
		}
	}
	// Count the work for the progress bar, and fail early on empty input.
	counts := map[stories.Kind]int{}
	for kind, group := range map[stories.Kind][]string{stories.Neutral: in.Neutral, stories.Emotional: in.Stories} {
		for _, path := range group {
			if err := stories.Read(path, func(*stories.Story) error { counts[kind]++; return nil }); err != nil {
				return nil, err
			}
		}
	}
	if counts[stories.Emotional] == 0 {
		return nil, fmt.Errorf("%w (%v)", ErrNoStories, in.Stories)
	}
	total := counts[stories.Neutral] + counts[stories.Emotional]

	id := Identity{Model: in.Model, Emotions: in.Emotions, Layers: layers, NeutralIdx: neutralIdx, Window: cfg.Window, HeldOut: cfg.HeldOut}
	fp := fingerprint(in, layers, neutralIdx, cfg)
	if sharded {
		id.Shards, id.NeutralLines, id.StoryLines = cfg.Shard.Count, counts[stories.Neutral], counts[stories.Emotional]
		fp = id.fingerprint()
	}
	st := &state{Version: checkpointVersion, Fingerprint: fp, Acc: NewAccumulator(in.Emotions, layers, d),
		Neutral: map[int]*Moments{}, HeldOut: vecpack.NewHeldOut(in.Model, in.Emotions, layers), Done: map[string]bool{},
		Ident: id, Shard: cfg.Shard}
	for _, i := range neutralIdx {
		st.Neutral[i] = NewMoments(d)
	}
	if cfg.Checkpoint != "" {
		old, err := loadState(cfg.Checkpoint)
		switch {
		case err == nil && old.Fingerprint != fp && sharded:
			return nil, fmt.Errorf("extract: checkpoint %s of shard %s was made with other settings or other story files (%s): delete it to run the shard again from the start", cfg.Checkpoint, cfg.Shard, old.Ident.diff(id))
		case err == nil && old.Fingerprint != fp:
			return nil, fmt.Errorf("extract: checkpoint %s was made with another model, emotions, layers or window: delete it to extract again from the start, or give a fresh run directory (--dir) for the new settings", cfg.Checkpoint)
		case err == nil:
			st = old
			st.Stats.Resumed = len(st.Done)
			st.Complete = false
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}

	if sharded {
		total = 0
		for _, n := range counts {
			lo, hi := cfg.Shard.Range(n)
			total += hi - lo
		}
	}
	rn := &runState{r: r, cfg: cfg, layers: layers, neutralIdx: neutralIdx, d: d, st: st, emoIdx: emoIdx,
		progress: progress, total: total, done: len(st.Done), lastSave: time.Now(), seen: map[string]bool{},
		lines: counts, pos: map[stories.Kind]int{}}
	rn.pending = make(map[int]*Moments, len(neutralIdx))
	for _, i := range neutralIdx {
		rn.pending[i] = NewMoments(d)
	}
	if progress != nil {
		progress(rn.done, total)
	}
	err := rn.readAll(ctx, in.Neutral, stories.Neutral)
	if err == nil {
		err = rn.readAll(ctx, in.Stories, stories.Emotional)
	}
	if err != nil {
		// The state holds only whole batches, so it is always safe to save.
		if cfg.Checkpoint != "" {
			if serr := saveState(cfg.Checkpoint, st); serr != nil {
				return nil, errors.Join(err, serr)
			}
		}
		return nil, err
	}
	if sharded {
		st.Complete, st.Denoise, st.Params = true, cfg.Denoise, cfg.Params
	}
	if cfg.Checkpoint != "" {
		if err := saveState(cfg.Checkpoint, st); err != nil {
			return nil, err
		}
	}
	if sharded {
		return &Result{Stats: st.Stats}, nil
	}
	return finish(st, in.Model, cfg.Window, cfg.Denoise, len(neutralIdx) > 0, cfg.Params)
}

// finish builds the vectors and the pack from an accumulated state.
func finish(st *state, model vecpack.ModelInfo, window Window, dn Denoise, denoise bool, params map[string]string) (*Result, error) {
	layers := st.Acc.Layers
	neutral := make([]*Moments, len(layers))
	for i, m := range st.Neutral {
		if m.N > 0 {
			neutral[i] = m
		}
	}
	if !denoise {
		dn.Fraction = 0
	}
	v, err := Build(st.Acc, neutral, dn)
	if err != nil {
		return nil, err
	}
	pack, err := v.Pack(PackOptions{Model: model, Window: window, Denoise: dn, Acc: st.Acc, Neutral: neutral,
		NeutralText: st.NeutralTexts, HeldOut: st.HeldOut, Params: params, Created: time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, err
	}
	return &Result{Vectors: v, Pack: pack, HeldOut: st.HeldOut, Stats: st.Stats}, nil
}

func checkLayers(layers []int, n int) error {
	if len(layers) == 0 {
		return errors.New("extract: no layers")
	}
	for i, l := range layers {
		if l < 0 || l >= n || (i > 0 && l <= layers[i-1]) {
			return fmt.Errorf("extract: layers %v must increase within [0, %d)", layers, n)
		}
	}
	return nil
}

func fingerprint(in Input, layers, neutralIdx []int, cfg Config) string {
	b, _ := json.Marshal(struct {
		Model      vecpack.ModelInfo
		Emotions   []string
		Layers     []int
		NeutralIdx []int
		Window     Window
		HeldOut    float64
	}{in.Model, in.Emotions, layers, neutralIdx, cfg.Window, cfg.HeldOut})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

type runState struct {
	r          Runner
	cfg        Config
	layers     []int
	neutralIdx []int
	d          int
	st         *state
	emoIdx     map[string]int
	pending    map[int]*Moments // neutral moments of the batch in flight
	progress   Progress
	total      int
	done       int
	lastSave   time.Time
	seen       map[string]bool      // IDs met in this run
	lines      map[stories.Kind]int // lines of each kind in the input (sharded runs)
	pos        map[stories.Kind]int // lines of each kind read so far
}

type job struct {
	story   *stories.Story
	emotion int // -1 for neutral
	heldOut bool
}

func (rn *runState) readAll(ctx context.Context, paths []string, kind stories.Kind) error {
	var batch []job
	for _, path := range paths {
		err := stories.Read(path, func(s *stories.Story) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if sh := rn.cfg.Shard; sh.Count > 1 {
				pos := rn.pos[kind]
				rn.pos[kind]++
				if lo, hi := sh.Range(rn.lines[kind]); pos < lo || pos >= hi {
					return nil
				}
			}
			if rn.seen[s.ID] {
				rn.st.Stats.Repeated++
				return nil
			}
			rn.seen[s.ID] = true
			if rn.st.Done[s.ID] { // read before the checkpoint
				return nil
			}
			if s.Kind != kind {
				return fmt.Errorf("story %s is %q, expected %q texts in this file", s.ID, s.Kind, kind)
			}
			j := job{story: s, emotion: -1}
			if kind == stories.Emotional {
				e, ok := rn.emoIdx[s.Emotion]
				if !ok {
					rn.st.Stats.Ignored++
					rn.markDone(s.ID)
					return nil
				}
				j.emotion = e
				j.heldOut = s.SplitFor(rn.cfg.HeldOut) == stories.HeldOut
			}
			cp := *s
			j.story = &cp
			batch = append(batch, j)
			if len(batch) >= rn.cfg.Batch {
				err := rn.runBatch(ctx, batch)
				batch = batch[:0]
				return err
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if len(batch) > 0 {
		return rn.runBatch(ctx, batch)
	}
	return nil
}

func (rn *runState) markDone(id string) {
	rn.st.Done[id] = true
	rn.done++
	if rn.progress != nil {
		rn.progress(rn.done, rn.total)
	}
}

// runBatch runs one batch and commits its results only when every text of
// the batch has been read, so that an interrupted batch leaves no trace.
func (rn *runState) runBatch(ctx context.Context, batch []job) error {
	d, nl := rn.d, len(rn.layers)
	texts := make([]Text, len(batch))
	for i, j := range batch {
		texts[i] = Text{Prefix: j.story.Prefix, Text: j.story.Text}
	}
	layerPos := map[int]int{}
	for i, l := range rn.layers {
		layerPos[l] = i
	}
	isNeutralLayer := map[int]bool{}
	for _, i := range rn.neutralIdx {
		isNeutralLayer[i] = true
	}
	means := make([][][]float32, len(batch)) // [text][layerIdx][d]
	norms := make([][]NormStats, len(batch))
	seen := make([][]bool, len(batch))
	short := make([]bool, len(batch))
	for i := range batch {
		means[i] = make([][]float32, nl)
		norms[i] = make([]NormStats, nl)
		seen[i] = make([]bool, nl)
	}
	hasNeutral := slices.ContainsFunc(batch, func(j job) bool { return j.emotion < 0 })
	if hasNeutral {
		for _, m := range rn.pending {
			clear(m.Sum)
			clear(m.Outer)
			m.N = 0
		}
	}
	err := rn.r.Residuals(ctx, texts, rn.layers, func(i, layer int, rows []float32, textStart int) error {
		li, ok := layerPos[layer]
		if i < 0 || i >= len(batch) || !ok {
			return fmt.Errorf("extract: runner visited text %d layer %d, not requested", i, layer)
		}
		if len(rows)%d != 0 {
			return fmt.Errorf("extract: runner gave %d values for layer %d, not a multiple of d=%d", len(rows), layer, d)
		}
		seen[i][li] = true
		lo, hi, err := rn.cfg.Window.Range(len(rows)/d, textStart)
		if errors.Is(err, ErrTooShort) {
			short[i] = true
			return nil
		}
		if err != nil {
			return err
		}
		m := make([]float32, d)
		s, sq := MeanRows(m, rows, d, lo, hi)
		means[i][li] = m
		norms[i][li].Add(s, sq, hi-lo)
		if batch[i].emotion < 0 && isNeutralLayer[li] {
			rn.pending[li].AddRows(rows, lo, hi)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range batch {
		for li := range seen[i] {
			if !seen[i][li] {
				return fmt.Errorf("extract: runner did not visit text %d at layer %d", i, rn.layers[li])
			}
		}
	}
	// Commit.
	st := rn.st
	for i, j := range batch {
		if short[i] {
			st.Stats.Skipped++
			st.Acc.Skipped++
			rn.markDone(j.story.ID)
			continue
		}
		for li := range norms[i] {
			st.Acc.AddNorms(li, norms[i][li].Sum, norms[i][li].SumSq, int(norms[i][li].N))
		}
		switch {
		case j.emotion < 0:
			st.Stats.Neutral++
			st.NeutralTexts++
		case j.heldOut:
			if err := st.HeldOut.Add(j.story.ID, j.emotion, means[i]); err != nil {
				return err
			}
			st.Stats.HeldOut++
		default:
			if err := st.Acc.Add(j.emotion, means[i]); err != nil {
				return err
			}
			st.Stats.Train++
		}
		rn.markDone(j.story.ID)
	}
	if hasNeutral {
		for li, m := range rn.pending {
			if err := st.Neutral[li].Merge(m); err != nil {
				return err
			}
		}
	}
	if rn.cfg.Checkpoint != "" && rn.cfg.CheckpointEvery > 0 && time.Since(rn.lastSave) >= rn.cfg.CheckpointEvery {
		if err := saveState(rn.cfg.Checkpoint, st); err != nil {
			return err
		}
		rn.lastSave = time.Now()
	}
	return nil
}
