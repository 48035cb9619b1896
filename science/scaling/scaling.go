package scaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/stories"
)

// Config is a study. The zero value of a field takes its default (Defaults).
type Config struct {
	Dir           string   // where the pools, rates and results are kept
	Emotions      []string // default: the 16 core emotions
	Topics        []string // default: the children's topics
	NeutralTopics []string // default: the children's neutral topics
	Seed          uint64   // default 1

	// The main pool: PerTopic stories per (emotion, topic) of MaxTokens
	// tokens with the default openings. Index 0 of every (emotion, topic)
	// is held out; Sizes are the training stories per emotion evaluated
	// (multiples of the topic count, at most (PerTopic−1)·topics).
	PerTopic  int   // default 17 (512 training stories per emotion on 32 topics)
	MaxTokens int   // default 40
	Sizes     []int // default: 32, 64, 128, ... up to the pool
	// Base is the training stories per emotion of the settings the other
	// axes vary around (default 128, or the largest size below it).
	Base int
	// The length axis: stories read over their first L tokens for each of
	// Lengths. When a length exceeds MaxTokens, a long pool of
	// LongPerTopic stories per (emotion, topic) is generated to the
	// largest and gives every length; else the main pool does.
	LongPerTopic int   // default 3 with a long pool
	Lengths      []int // default 20, 30, 40, 80, 120, 160; empty: no length axis
	// Opening pools: VariantPerTopic stories per (emotion, topic) for each
	// opening set besides the default ("mixed" is made from the others).
	Openings        []string // default first-person, dialogue, period, mixed
	VariantPerTopic int      // default 3
	// Offsets are the token offsets where averaging starts; Fractions the
	// shares of neutral variance projected out (0: none).
	Offsets   []int     // default 0, 5, 10, 20
	Fractions []float64 // default 0, 0.3, 0.5, 0.7, 0.8, 0.9
	// BaseFraction is the base settings' share (default 0.7, the base-model
	// default of extract.BaseStoryConfig).
	BaseFraction    float64
	NeutralPerTopic int // default 4
	Batch           int // stories decoded together (default 32)
	// Probe, when set, also fits a probe per setting on the base settings
	// and the best one (see ProbeFunc).
	Probe ProbeFunc

	Progress func(stage string, done, total int)
	Log      func(format string, args ...any)
}

// Defaults fills the zero fields.
func (c *Config) Defaults() {
	if len(c.Emotions) == 0 {
		c.Emotions = catalog.CoreNames()
	}
	if len(c.Topics) == 0 {
		c.Topics = catalog.ChildTopics()
	}
	if len(c.NeutralTopics) == 0 {
		c.NeutralTopics = catalog.ChildNeutralTopics()
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.PerTopic == 0 {
		c.PerTopic = 17
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = 40
	}
	T := len(c.Topics)
	if len(c.Sizes) == 0 {
		for n := T; n <= (c.PerTopic-1)*T; n *= 2 {
			c.Sizes = append(c.Sizes, n)
		}
	}
	if c.Base == 0 {
		c.Base = c.Sizes[0]
		for _, n := range c.Sizes {
			if n <= 128 {
				c.Base = n
			}
		}
	}
	if c.Lengths == nil {
		c.Lengths = []int{20, 30, 40, 80, 120, 160}
	}
	if c.LongPerTopic == 0 && c.longest() > c.MaxTokens {
		c.LongPerTopic = 3
	}
	if c.Openings == nil {
		c.Openings = []string{"first-person", "dialogue", "period", "mixed"}
	}
	if c.VariantPerTopic == 0 {
		c.VariantPerTopic = 3
	}
	if len(c.Offsets) == 0 {
		c.Offsets = []int{0, 5, 10, 20}
	}
	if len(c.Fractions) == 0 {
		c.Fractions = []float64{0, 0.3, 0.5, 0.7, 0.8, 0.9}
	}
	if c.BaseFraction == 0 {
		c.BaseFraction = 0.7
	}
	if c.NeutralPerTopic == 0 {
		c.NeutralPerTopic = 4
	}
	if c.Batch == 0 {
		c.Batch = 32
	}
}

// Check reports settings that cannot work.
func (c *Config) Check() error {
	T := len(c.Topics)
	switch {
	case c.Dir == "":
		return errors.New("scaling: no directory")
	case c.PerTopic < 2:
		return fmt.Errorf("scaling: --per-topic %d: need at least 2 (one held out)", c.PerTopic)
	case c.MaxTokens < 1:
		return fmt.Errorf("scaling: max tokens %d must be positive", c.MaxTokens)
	case c.hasLong() && c.LongPerTopic < 2:
		return fmt.Errorf("scaling: long stories per topic %d: need at least 2", c.LongPerTopic)
	}
	for _, n := range append(slices.Clone(c.Sizes), c.Base) {
		if n <= 0 || n%T != 0 || n/T > c.PerTopic-1 {
			return fmt.Errorf("scaling: %d stories per emotion: want a multiple of the %d topics, at most %d", n, T, (c.PerTopic-1)*T)
		}
	}
	if !slices.Contains(c.Sizes, c.Base) {
		return fmt.Errorf("scaling: base size %d is not among the sizes %v", c.Base, c.Sizes)
	}
	for _, o := range c.Openings {
		if _, err := stories.OpeningSet(o); err != nil {
			return fmt.Errorf("scaling: %w", err)
		}
		if o == "because" {
			return errors.New("scaling: the default opening set is the main pool's; list only others")
		}
	}
	for _, o := range c.Offsets {
		if o < 0 || o >= c.MaxTokens {
			return fmt.Errorf("scaling: offset %d outside [0, %d)", o, c.MaxTokens)
		}
	}
	if c.Offsets[0] != 0 {
		return errors.New("scaling: the offsets must start with 0 (the base setting)")
	}
	for _, f := range append(slices.Clone(c.Fractions), c.BaseFraction) {
		if !(f >= 0 && f < 1) {
			return fmt.Errorf("scaling: variance fraction %v outside [0, 1)", f)
		}
	}
	for i, l := range c.Lengths {
		if l < 1 || (i > 0 && l <= c.Lengths[i-1]) {
			return fmt.Errorf("scaling: lengths %v must be positive and increasing", c.Lengths)
		}
	}
	return nil
}

// pool is one set of generated stories.
type pool struct {
	Name      string
	Openings  string // opening set ("" for neutral texts)
	Kind      stories.Kind
	PerTopic  int
	MaxTokens int
	Seed      uint64
}

func (p pool) file(dir string) string { return filepath.Join(dir, "pools", p.Name+".jsonl") }

// pools lists the study's pools: main, long, one per opening set (mixed is
// made from the others when evaluating) and neutral.
func (c *Config) pools() []pool {
	ps := []pool{{Name: "main", Openings: "because", Kind: stories.Emotional, PerTopic: c.PerTopic, MaxTokens: c.MaxTokens, Seed: c.Seed}}
	if c.hasLong() {
		ps = append(ps, pool{Name: "long", Openings: "because", Kind: stories.Emotional, PerTopic: c.LongPerTopic,
			MaxTokens: c.Lengths[len(c.Lengths)-1], Seed: c.Seed})
	}
	for i, o := range c.Openings {
		if o == "mixed" {
			continue
		}
		ps = append(ps, pool{Name: o, Openings: o, Kind: stories.Emotional, PerTopic: c.VariantPerTopic, MaxTokens: c.MaxTokens,
			Seed: c.Seed + uint64(i+1)*1000003})
	}
	return append(ps, pool{Name: "neutral", Kind: stories.Neutral, PerTopic: c.NeutralPerTopic,
		MaxTokens: max(c.MaxTokens, c.longest()), Seed: c.Seed})
}

// hasLong reports whether the study has a long pool: a length beyond the
// main pool's.
func (c *Config) hasLong() bool { return c.longest() > c.MaxTokens }

func (c *Config) longest() int {
	if len(c.Lengths) == 0 {
		return 0
	}
	return c.Lengths[len(c.Lengths)-1]
}

// Rates are the measured speeds a setting's time is estimated from.
type Rates struct {
	GenTokens   int64   `json:"generated_tokens"`
	GenSeconds  float64 `json:"generation_seconds"`
	ReadTokens  int64   `json:"read_tokens"`
	ReadSeconds float64 `json:"read_seconds"`
}

// GenRate is generated tokens per second (0 when unmeasured).
func (r Rates) GenRate() float64 {
	if r.GenSeconds <= 0 {
		return 0
	}
	return float64(r.GenTokens) / r.GenSeconds
}

// ReadRate is read tokens per second.
func (r Rates) ReadRate() float64 {
	if r.ReadSeconds <= 0 {
		return 0
	}
	return float64(r.ReadTokens) / r.ReadSeconds
}

// generate makes every pool that is not complete yet and returns the
// generation rate measured over what it generated now, merged with the
// rate saved by earlier runs.
func (c *Config) generate(ctx context.Context, m *model.Model) (Rates, error) {
	var rates Rates
	ratesFile := filepath.Join(c.Dir, "rates.json")
	if b, err := os.ReadFile(ratesFile); err == nil {
		if err := json.Unmarshal(b, &rates); err != nil {
			return rates, fmt.Errorf("scaling: %s: %w", ratesFile, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "pools"), 0o755); err != nil {
		return rates, err
	}
	tok, err := m.Tokenizer()
	if err != nil {
		return rates, err
	}
	gen := pipeline.Generator{M: m}
	for _, p := range c.pools() {
		sc := stories.Config{Spec: stories.Spec{Kind: p.Kind, Emotions: c.Emotions, Topics: c.Topics, PerTopic: p.PerTopic, Seed: p.Seed},
			Style: stories.StyleBase, Batch: c.Batch, MaxTokens: p.MaxTokens, HeldOut: -1}
		if p.Kind == stories.Neutral {
			sc.Topics = c.NeutralTopics
		} else {
			sc.Openings, _ = stories.OpeningSet(p.Openings)
		}
		st, err := stories.OpenStore(p.file(c.Dir))
		if err != nil {
			return rates, err
		}
		before := st.Len()
		t0 := time.Now()
		sum, err := stories.Generate(ctx, sc, gen, st, func(done, total int) {
			if c.Progress != nil {
				c.Progress("stories: "+p.Name, done, total)
			}
		})
		secs := time.Since(t0).Seconds()
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return rates, fmt.Errorf("scaling: pool %s: %w", p.Name, err)
		}
		if sum.Written > 0 {
			// Count the tokens generated now: the texts appended after before.
			all, err := stories.ReadAll(p.file(c.Dir))
			if err != nil {
				return rates, err
			}
			for _, s := range all[before:] {
				rates.GenTokens += int64(len(tok.Encode(s.Text, false)))
			}
			rates.GenSeconds += secs
		}
		if sum.Dropped > 0 && c.Log != nil {
			c.Log("pool %s: %d stories dropped (too short); the pool is incomplete until a rerun fills them", p.Name, sum.Dropped)
		}
	}
	b, _ := json.MarshalIndent(rates, "", "  ")
	return rates, atomicfile.WriteBytes(ratesFile, 0o644, append(b, '\n'))
}

// loadTexts reads pool p's stories as texts to read, labelled by emotion.
func (c *Config) loadTexts(p pool) ([]text, error) {
	all, err := stories.ReadAll(p.file(c.Dir))
	if err != nil {
		return nil, err
	}
	var out []text
	for _, s := range all {
		e := -1
		if p.Kind == stories.Emotional {
			if e = slices.Index(c.Emotions, s.Emotion); e < 0 {
				continue
			}
		}
		out = append(out, text{Text: extract.Text{Prefix: s.Prefix, Text: s.Text}, Emotion: e, Index: s.Index,
			Topic: slices.Index(c.Topics, s.Topic), ID: s.ID})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("scaling: pool %s holds no stories", p.Name)
	}
	return out, nil
}
