package extract

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// wordModel is a fake Runner: whitespace tokens, BOS first, each token's
// residual at layer l is a fixed pseudo-random embedding of the word (scaled
// by l+1) plus a planted emotion direction for "emo-E-k" words.
type wordModel struct {
	d, layers int
	planted   map[string][]float64 // emotion → direction
	calls     int
	failAt    int // Residuals call that fails with a cancelled context
	cancel    context.CancelFunc
	badLayer  bool
}

func (m *wordModel) DModel() int    { return m.d }
func (m *wordModel) NumLayers() int { return m.layers }

func (m *wordModel) embed(word string, l int) []float64 {
	h := fnv.New64a()
	h.Write([]byte(word))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(l)))
	v := make([]float64, m.d)
	if strings.HasPrefix(word, "emo-") {
		e := strings.Split(word, "-")[1]
		add(v, m.planted[e], 6)
		return v
	}
	for j := range v {
		v[j] = rng.NormFloat64() * float64(l+1)
	}
	return v
}

func (m *wordModel) Residuals(ctx context.Context, texts []Text, layers []int, visit func(i, layer int, rows []float32, textStart int) error) error {
	m.calls++
	if m.calls == m.failAt {
		m.cancel()
		return ctx.Err()
	}
	for i, t := range texts {
		words := append([]string{"<s>"}, strings.Fields(t.Prefix)...)
		start := len(words)
		words = append(words, strings.Fields(t.Text)...)
		for _, l := range layers {
			if m.badLayer {
				l = m.layers
			}
			rows := make([]float32, len(words)*m.d)
			for p, w := range words {
				for j, x := range m.embed(w, l) {
					rows[p*m.d+j] = float32(x)
				}
			}
			if err := visit(i, l, rows, start); err != nil {
				return err
			}
		}
	}
	return nil
}

var testEmotions = []string{"happy", "sad", "angry", "calm"}

func newWordModel(d, layers int) *wordModel {
	m := &wordModel{d: d, layers: layers, planted: map[string][]float64{}}
	rng := rand.New(rand.NewPCG(11, 11))
	for _, e := range testEmotions {
		v := make([]float64, d)
		for j := range v {
			v[j] = rng.NormFloat64()
		}
		unit(v)
		m.planted[e] = v
	}
	return m
}

// writeCorpus writes emotional stories (filler words with emotion words mixed
// in) and neutral texts to JSONL files.
func writeCorpus(t *testing.T, dir string, perEmotion int) (storyPath, neutralPath string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 3))
	filler := func(n int) []string {
		w := make([]string, n)
		for i := range w {
			w[i] = fmt.Sprintf("w%d", rng.IntN(300))
		}
		return w
	}
	storyPath, neutralPath = filepath.Join(dir, "stories.jsonl"), filepath.Join(dir, "neutral.jsonl")
	st, err := stories.OpenStore(storyPath)
	if err != nil {
		t.Fatal(err)
	}
	var batch []stories.Story
	for _, e := range append(slices.Clone(testEmotions), "bored") { // "bored" is not in the run
		for i := 0; i < perEmotion; i++ {
			k := stories.Key{Kind: stories.Emotional, Emotion: e, Topic: "t", Index: i}
			words := filler(15 + rng.IntN(40))
			for p := range words {
				if rng.IntN(3) == 0 {
					words[p] = fmt.Sprintf("emo-%s-%d", e, rng.IntN(5))
				}
			}
			if i == 0 {
				words = words[:3] // too short for the window
			}
			batch = append(batch, stories.Story{ID: k.ID(), Kind: k.Kind, Emotion: e, Topic: "t", Index: i,
				Prefix: "once upon a time " + e, Text: strings.Join(words, " "), Generator: "test",
				Split: stories.SplitOf(k.ID(), 0.25)})
		}
	}
	if err := st.Append(batch); err != nil {
		t.Fatal(err)
	}
	st.Close()
	nt, _ := stories.OpenStore(neutralPath)
	batch = nil
	for i := 0; i < 12; i++ {
		k := stories.Key{Kind: stories.Neutral, Topic: "n", Index: i}
		batch = append(batch, stories.Story{ID: k.ID(), Kind: k.Kind, Topic: "n", Index: i,
			Text: strings.Join(filler(40), " "), Generator: "test", Split: stories.Train})
	}
	nt.Append(batch)
	nt.Close()
	return storyPath, neutralPath
}

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Window.Offset = 5
	cfg.Batch = 3
	cfg.Checkpoint = filepath.Join(dir, "ckpt")
	cfg.CheckpointEvery = 0
	return cfg
}

func TestRunRecoversPlantedEmotions(t *testing.T) {
	dir := t.TempDir()
	sp, np := writeCorpus(t, dir, 30)
	m := newWordModel(16, 3)
	in := Input{Model: vecpack.ModelInfo{ID: "words", Hash: "sha256:abc"}, Emotions: testEmotions, Stories: []string{sp}, Neutral: []string{np}}
	var last [2]int
	res, err := Run(context.Background(), m, in, testConfig(dir), func(d, n int) { last = [2]int{d, n} })
	if err != nil {
		t.Fatal(err)
	}
	s := res.Stats
	if s.Skipped != 4 || s.Ignored != 30 || s.Neutral != 12 || s.Train+s.HeldOut != 4*29 || s.HeldOut == 0 {
		t.Errorf("stats %+v", s)
	}
	if last != [2]int{12 + 5*30, 12 + 5*30} {
		t.Errorf("progress ended at %v", last)
	}
	// Planted directions, centred over the run's emotions.
	for l := 0; l < 3; l++ {
		mean := make([]float64, m.d)
		for _, e := range testEmotions {
			add(mean, m.planted[e], 0.25)
		}
		for ei, e := range testEmotions {
			want := slices.Clone(m.planted[e])
			sub(want, mean, 1)
			if c := cosine(res.Vectors.Vector(l, ei, false), want); !(c >= 0.9) {
				t.Errorf("layer %d %s: cosine %.3f with the planted direction", l, e, c)
			}
		}
	}
	p := res.Pack
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	if p.Meta.Model.DModel != 16 || p.Meta.Model.NLayers != 3 || p.Meta.TokenOffset != 5 || p.Meta.NeutralTexts != 12 ||
		p.Meta.SkippedStories != 4 || p.Meta.LayerInfo[2].MeanResidNorm < p.Meta.LayerInfo[0].MeanResidNorm*2 {
		t.Errorf("meta %+v", p.Meta)
	}
	for i, info := range p.Meta.LayerInfo {
		if info.PCsRemoved == 0 || info.NeutralTokens != 12*(40-5) || p.Layers[i].NeutralStdDenoised == nil {
			t.Errorf("layer info %+v", info)
		}
	}
	total := 0
	for e := range testEmotions {
		total += p.Meta.HeldOutCounts[e]
	}
	if total != res.HeldOut.Len() || res.HeldOut.Check() != nil {
		t.Errorf("held-out: %d counted, %d stored", total, res.HeldOut.Len())
	}
}

func TestRunResumesAfterInterruption(t *testing.T) {
	dir := t.TempDir()
	sp, np := writeCorpus(t, dir, 20)
	in := Input{Model: vecpack.ModelInfo{ID: "words"}, Emotions: testEmotions, Stories: []string{sp}, Neutral: []string{np}}

	refCfg := testConfig(dir)
	refCfg.Checkpoint = ""
	ref, err := Run(context.Background(), newWordModel(8, 2), in, refCfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(dir)
	for _, failAt := range []int{3, 9, 20} { // in the neutral texts, then in the stories, twice
		ctx, cancel := context.WithCancel(context.Background())
		m := newWordModel(8, 2)
		m.failAt, m.cancel = failAt, cancel
		if _, err := Run(ctx, m, in, cfg, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run (call %d): %v", failAt, err)
		}
	}
	got, err := Run(context.Background(), newWordModel(8, 2), in, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats.Resumed == 0 {
		t.Error("nothing resumed")
	}
	for l := range ref.Vectors.Raw {
		for j := range ref.Vectors.Raw[l] {
			if !(math.Abs(ref.Vectors.Raw[l][j]-got.Vectors.Raw[l][j]) <= 1e-9) ||
				!(math.Abs(ref.Vectors.Denoised[l][j]-got.Vectors.Denoised[l][j]) <= 1e-6) {
				t.Fatalf("layer %d [%d]: resumed vectors differ", l, j)
			}
		}
	}
	if !slices.Equal(ref.Pack.Meta.Counts, got.Pack.Meta.Counts) {
		t.Errorf("counts %v vs %v", ref.Pack.Meta.Counts, got.Pack.Meta.Counts)
	}
	a, b := slices.Clone(ref.HeldOut.IDs), slices.Clone(got.HeldOut.IDs)
	sort.Strings(a)
	sort.Strings(b)
	if !slices.Equal(a, b) {
		t.Error("held-out stories differ after resume")
	}
	if ref.Stats.Train != got.Stats.Train || ref.Stats.Skipped != got.Stats.Skipped || got.Stats.Repeated != 0 {
		t.Errorf("stats %+v vs %+v", ref.Stats, got.Stats)
	}

	// A checkpoint from other settings is refused.
	other := testConfig(dir)
	other.Window.Offset = 6
	// The error names flags that exist: --dir, never a --checkpoint flag.
	if _, err := Run(context.Background(), newWordModel(8, 2), in, other, nil); err == nil || !strings.Contains(err.Error(), "checkpoint") ||
		!strings.Contains(err.Error(), "--dir") || strings.Contains(err.Error(), "--checkpoint") {
		t.Errorf("mismatched checkpoint: %v, want an error that points to --dir", err)
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	sp, np := writeCorpus(t, dir, 4)
	empty := filepath.Join(dir, "empty.jsonl")
	st, _ := stories.OpenStore(empty)
	st.Close()
	base := Input{Emotions: testEmotions, Stories: []string{sp}, Neutral: []string{np}}
	cfg := testConfig(dir)
	cfg.Checkpoint = ""
	tests := []struct {
		name    string
		in      func(Input) Input
		cfg     func(Config) Config
		m       func(*wordModel)
		wantErr string
	}{
		{"empty story file", func(in Input) Input { in.Stories = []string{empty}; return in }, nil, nil, "hold no stories"},
		{"missing story file", func(in Input) Input { in.Stories = []string{filepath.Join(dir, "nope")}; return in }, nil, nil, "no such file"},
		{"emotion without stories", func(in Input) Input { in.Emotions = []string{"happy", "worried", "tense"}; return in }, nil, nil,
			"no training stories for 2 emotion(s): worried, tense"},
		{"neutral file given as stories", func(in Input) Input { in.Stories, in.Neutral = []string{np}, nil; return in }, nil, nil, `expected "emotion"`},
		{"model width mismatch", func(in Input) Input { in.Model.DModel = 32; return in }, nil, nil, "d=32"},
		{"layer out of range", nil, func(c Config) Config { c.Layers = []int{0, 5}; return c }, nil, "layers [0 5]"},
		{"bad policy", nil, func(c Config) Config { c.Window.Short = "maybe"; return c }, nil, "policy"},
		{"runner visits a wrong layer", nil, nil, func(m *wordModel) { m.badLayer = true }, "not requested"},
		{"duplicate emotion", func(in Input) Input { in.Emotions = []string{"sad", "sad"}; return in }, nil, nil, "twice"},
	}
	for _, tt := range tests {
		in, c, m := base, cfg, newWordModel(8, 2)
		if tt.in != nil {
			in = tt.in(in)
		}
		if tt.cfg != nil {
			c = tt.cfg(c)
		}
		if tt.m != nil {
			tt.m(m)
		}
		_, err := Run(context.Background(), m, in, c, nil)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestRunWithoutNeutral(t *testing.T) {
	dir := t.TempDir()
	sp, _ := writeCorpus(t, dir, 6)
	cfg := testConfig(dir)
	cfg.Checkpoint = ""
	res, err := Run(context.Background(), newWordModel(8, 2), Input{Emotions: testEmotions, Stories: []string{sp}}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pack.Meta.VarianceFraction != 0 || res.Pack.Layers[0].NeutralMeanRaw != nil ||
		!slices.Equal(res.Pack.Layers[1].Raw, res.Pack.Layers[1].Denoised) {
		t.Error("without neutral texts the pack should be undenoised and have no neutral stats")
	}
}
