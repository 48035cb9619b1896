package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/experiment"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/prefs"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Files of a run directory.
const (
	StoriesFile = "stories.jsonl"
	NeutralFile = "neutral.jsonl"
	PackFile    = "vectors.safetensors"
	HeldOutFile = "heldout.safetensors"
	CkptFile    = "extract.ckpt"
	ExpDir      = "experiments"
)

// Config is a whole run's settings. Zero values take the defaults for the
// model's kind (base or chat).
type Config struct {
	Dir             string
	Emotions        []string // default: the 16 core emotions and the case-study ones (catalog.DefaultNames)
	Topics          []string // default: children's topics (base), the paper's 100 (chat)
	NeutralTopics   []string // default: children's neutral topics (base), the paper's topics (chat)
	PerTopic        int      // stories per (emotion, topic); default: the preset's (base), 1 (chat)
	NeutralPerTopic int      // default 2
	MaxTokens       int      // tokens per story; default 40 (base), 400 (chat)
	Batch           int      // stories decoded together (default 32)
	// Openings names the emotional-opening set of a base model's stories
	// (stories.OpeningSet); "" is the default, "because".
	Openings string
	// Preset names the defaults of a base model's stories and extraction
	// (Presets); "" is "default". Fields set explicitly win.
	Preset      string
	Seed        uint64
	Generator   stories.Generator // default: the model itself
	Extract     *extract.Config   // default: extract.BaseStoryConfig (base), DefaultConfig (chat)
	Experiments bool              // run feel, dose and implicit after validating
	Function    bool              // with Experiments: also prefs and the behaviour analogues
	// Shard makes Stories and Extract do one shard of their work into
	// ShardDir (see MergeStories, MergeExtract); the zero value does all.
	Shard shard.Shard
	// Progress reports each step: stage names "stories", "neutral",
	// "extract", "experiments".
	Progress func(stage string, done, total int)
	Log      func(format string, args ...any)
}

// Result is what a run produced.
type Result struct {
	Dir        string
	Validation *validate.Result
	Feel       *experiment.FeelResult
	Dose       *experiment.DoseResult
	Implicit   *experiment.ImplicitResult
	Prefs      *prefs.Result    // the preference experiment
	Behaviour  []*behave.Result // the behaviour analogues
	ReportHTML string
	ReportJSON string
	Pack       string
	Timings    map[string]time.Duration
	Stories    stories.Summary
	Neutral    stories.Summary
	Extract    extract.Stats
}

// IsChat reports whether the model has a chat template (the paper's prompts
// through the template), rather than being a base model (story openings).
func IsChat(m *model.Model) bool { return m.Tok != nil && m.Tok.ChatTemplate() != "" }

// requestContext is the context length below which a chat model gets
// stories.StyleRequest instead of the paper's prompt: that prompt and four
// stories of up to 400 tokens need about 2,000 positions.
const requestContext = 2048

// IsShortChat reports whether m is a chat model whose context is too short
// for the paper's story prompt (stories15m-chat: 256 positions). Such a
// model is asked for one story per request, like a base model's opening
// (stories.StyleRequest), and read like one (extract.BaseStoryConfig).
func IsShortChat(m *model.Model) bool { return IsChat(m) && m.MaxSeq < requestContext }

// RenderRequest renders one user turn through m's chat template with the
// generation prompt, without the leading BOS text the generator adds
// itself: the Render of stories.StyleRequest.
func RenderRequest(m *model.Model) func(user string) (string, error) {
	return func(user string) (string, error) {
		s, err := chat.Render(m.Tok, []chat.Message{{Role: "user", Content: user}}, true)
		if err != nil {
			return "", err
		}
		if m.Tok.DefaultAddBOS() {
			s = strings.TrimPrefix(s, m.Tok.Token(m.Tok.BOS()))
		}
		return s, nil
	}
}

// Defaults fills zero fields for model m.
func (c *Config) Defaults(m *model.Model) {
	chatModel := IsChat(m) && !IsShortChat(m) // a short-context chat model is run like a base model
	if len(c.Emotions) == 0 {
		c.Emotions = catalog.DefaultNames()
	}
	if len(c.Topics) == 0 {
		c.Topics = catalog.ChildTopics()
		if chatModel {
			c.Topics = catalog.Topics()
		}
	}
	if len(c.NeutralTopics) == 0 {
		c.NeutralTopics = catalog.ChildNeutralTopics()
		if chatModel {
			c.NeutralTopics = catalog.Topics()
		}
	}
	// A base model's stories and extraction come from its preset.
	pre, err := LookupPreset(c.Preset)
	if err != nil || chatModel {
		pre = Presets["default"]
	}
	if c.PerTopic <= 0 {
		c.PerTopic = pre.PerTopic
		if chatModel {
			c.PerTopic = 1
		}
	}
	if c.NeutralPerTopic <= 0 {
		c.NeutralPerTopic = 2
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = pre.MaxTokens
		switch {
		case chatModel:
			c.MaxTokens = 400
		case IsShortChat(m):
			c.MaxTokens = 80 // the reply tells the whole story, opening included
		}
	}
	if c.Openings == "" && !IsChat(m) && pre.Openings != "because" {
		c.Openings = pre.Openings
	}
	if c.Batch <= 0 {
		c.Batch = 32
	}
	if c.Generator == nil {
		c.Generator = Generator{M: m}
	}
	if c.Extract == nil {
		e := extract.BaseStoryConfig()
		e.Window.Offset, e.Denoise.Fraction = pre.Offset, pre.Denoise
		if chatModel {
			e = extract.DefaultConfig()
		}
		c.Extract = &e
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
}

func (c *Config) progress(stage string) func(done, total int) {
	if c.Progress == nil {
		return nil
	}
	return func(done, total int) { c.Progress(stage, done, total) }
}

// Run runs every step on m into cfg.Dir. Every step resumes from what an
// interrupted run left.
func Run(ctx context.Context, m *model.Model, cfg Config) (*Result, error) {
	if _, err := m.Tokenizer(); err != nil {
		return nil, err
	}
	cfg.Defaults(m)
	res := &Result{Dir: cfg.Dir, Timings: map[string]time.Duration{}}
	step := func(name string, f func() error) error {
		t0 := time.Now()
		err := f()
		res.Timings[name] = time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	var err error
	if err := step("stories", func() error { res.Stories, res.Neutral, err = Stories(ctx, m, cfg); return err }); err != nil {
		return nil, err
	}
	var ex *extract.Result
	if err := step("extract", func() error { ex, err = Extract(ctx, m, cfg); return err }); err != nil {
		return nil, err
	}
	res.Extract, res.Pack = ex.Stats, filepath.Join(cfg.Dir, PackFile)
	if err := step("validate", func() error { res.Validation, err = Validate(m, cfg.Dir); return err }); err != nil {
		return nil, err
	}
	if cfg.Experiments {
		if err := step("experiments", func() error {
			res.Feel, res.Dose, res.Implicit, err = Experiments(ctx, m, cfg.Dir)
			return err
		}); err != nil {
			return nil, err
		}
	}
	if cfg.Experiments && cfg.Function {
		if err := step("prefs", func() error { res.Prefs, err = Prefs(ctx, m, cfg.Dir, cfg.Seed, cfg.Progress); return err }); err != nil {
			return nil, err
		}
		if err := step("eval", func() error { res.Behaviour, err = Behaviour(ctx, m, cfg.Dir, cfg.Progress); return err }); err != nil {
			return nil, err
		}
	}
	params := RunParams(cfg, res.Stories, res.Neutral)
	for k, d := range res.Timings {
		params["time: "+k] = d.Round(time.Millisecond).String()
	}
	res.ReportHTML, res.ReportJSON, err = Report(cfg.Dir, res.Validation, params)
	return res, err
}

// RunParams are the run's settings as the report shows them.
func RunParams(cfg Config, st, neu stories.Summary) map[string]string {
	p := map[string]string{"generator": cfg.Generator.Name(), "stories": fmt.Sprint(st.Planned),
		"neutral texts": fmt.Sprint(neu.Planned), "per topic": fmt.Sprint(cfg.PerTopic), "topics": fmt.Sprint(len(cfg.Topics)),
		"emotions": fmt.Sprint(len(cfg.Emotions)), "max tokens per story": fmt.Sprint(cfg.MaxTokens), "seed": fmt.Sprint(cfg.Seed)}
	if cfg.Openings != "" {
		p["openings"] = cfg.Openings
	}
	return p
}

// storiesConfig is the generation config of one spec: a base model's
// emotional stories get cfg.Openings.
func (cfg *Config) storiesConfig(spec stories.Spec, style stories.Style, render func(string) (string, error)) (stories.Config, error) {
	sc := stories.Config{Spec: spec, Style: style, Batch: cfg.Batch, MaxTokens: cfg.MaxTokens, Render: render, Shard: cfg.Shard}
	if cfg.Openings != "" {
		if style != stories.StyleBase {
			return sc, fmt.Errorf("openings %q: opening sets are for base models' stories", cfg.Openings)
		}
		if spec.Kind == stories.Emotional {
			o, err := stories.OpeningSet(cfg.Openings)
			if err != nil {
				return sc, err
			}
			sc.Openings = o
		}
	}
	return sc, nil
}

// Stories writes (or completes) the run's emotional stories and neutral
// texts.
func Stories(ctx context.Context, m *model.Model, cfg Config) (emo, neu stories.Summary, err error) {
	cfg.Defaults(m)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return emo, neu, err
	}
	style := stories.StyleBase
	var render func(string) (string, error)
	switch {
	case IsShortChat(m):
		style, render = stories.StyleRequest, RenderRequest(m)
	case IsChat(m):
		style = stories.StyleChat
	}
	if _, err := cfg.storiesConfig(stories.Spec{Kind: stories.Emotional}, style, render); err != nil {
		return emo, neu, err
	}
	if cfg.Shard.Count <= 1 {
		if err := checkSettings(cfg.Dir, cfg.storySettings(style), m); err != nil {
			return emo, neu, err
		}
	}
	gen := func(file string, spec stories.Spec, stage string) (stories.Summary, error) {
		st, err := stories.OpenStore(filepath.Join(cfg.Dir, file))
		if err != nil {
			return stories.Summary{}, err
		}
		defer st.Close()
		sc, err := cfg.storiesConfig(spec, style, render)
		if err != nil {
			return stories.Summary{}, err
		}
		return stories.Generate(ctx, sc, cfg.Generator, st, cfg.progress(stage))
	}
	emoSpec := stories.Spec{Kind: stories.Emotional, Emotions: cfg.Emotions, Topics: cfg.Topics, PerTopic: cfg.PerTopic, Seed: cfg.Seed}
	neuSpec := stories.Spec{Kind: stories.Neutral, Topics: cfg.NeutralTopics, PerTopic: cfg.NeutralPerTopic, Seed: cfg.Seed + 1}
	if cfg.Shard.Count > 1 {
		return storiesShard(ctx, m, cfg, style, render, emoSpec, neuSpec)
	}
	if emo, err = gen(StoriesFile, emoSpec, "stories"); err != nil {
		return emo, neu, err
	}
	cfg.Log("stories: %d planned, %d written now, %d already there, %d dropped", emo.Planned, emo.Written, emo.Skipped, emo.Dropped)
	neu, err = gen(NeutralFile, neuSpec, "neutral")
	return emo, neu, err
}

// Extract reads the run's stories through m and writes the vector pack and
// the held-out set; first it merges the stories shards when the run has
// them and no story file. With cfg.Shard it reads one shard of the texts
// and writes only that shard's state (the result has no pack).
func Extract(ctx context.Context, m *model.Model, cfg Config) (*extract.Result, error) {
	cfg.Defaults(m)
	if err := mergeIfMissing(cfg.Dir, StepStories); err != nil {
		return nil, err
	}
	hash, err := m.WeightsHash()
	if err != nil {
		return nil, err
	}
	info := vecpack.ModelInfo{ID: m.Name, Hash: hash, DModel: m.Dim, NLayers: m.Layers}
	ec := *cfg.Extract
	ec.Checkpoint = filepath.Join(cfg.Dir, CkptFile)
	ec.Params = map[string]string{"generator": cfg.Generator.Name(), "seed": strconv.FormatUint(cfg.Seed, 10),
		"per_topic": strconv.Itoa(cfg.PerTopic), "max_tokens": strconv.Itoa(cfg.MaxTokens), "topics": strconv.Itoa(len(cfg.Topics))}
	if cfg.Openings != "" {
		ec.Params["openings"] = cfg.Openings
	}
	in := extract.Input{Model: info, Emotions: cfg.Emotions, Stories: []string{filepath.Join(cfg.Dir, StoriesFile)}}
	if _, err := os.Stat(filepath.Join(cfg.Dir, NeutralFile)); err == nil {
		in.Neutral = []string{filepath.Join(cfg.Dir, NeutralFile)}
	}
	if cfg.Shard.Count > 1 {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, ShardDir), 0o755); err != nil {
			return nil, err
		}
		ec.Shard = cfg.Shard
		ec.Checkpoint = filepath.Join(cfg.Dir, ShardDir, shardName(StepExtract, cfg.Shard, ".state"))
	}
	ex, err := extract.Run(ctx, Runner{M: m}, in, ec, cfg.progress("extract"))
	if err != nil || cfg.Shard.Count > 1 {
		return ex, err
	}
	if err := vecpack.Write(filepath.Join(cfg.Dir, PackFile), ex.Pack); err != nil {
		return nil, err
	}
	if err := vecpack.WriteHeldOut(filepath.Join(cfg.Dir, HeldOutFile), ex.HeldOut); err != nil {
		return nil, err
	}
	return ex, nil
}

// Validate validates the run's pack on its held-out set (first merging the
// extract shards when the run has them and no pack), records the best
// layer in the pack and returns the result. With a model it also scores the
// hand-written stories of the pack's emotions at every layer
// (Result.Handwritten, see ScoreHandwritten).
func Validate(m *model.Model, dir string) (*validate.Result, error) {
	if err := mergeIfMissing(dir, StepExtract); err != nil {
		return nil, err
	}
	packPath := filepath.Join(dir, PackFile)
	p, err := vecpack.Read(packPath)
	if err != nil {
		return nil, err
	}
	h, err := vecpack.ReadHeldOut(filepath.Join(dir, HeldOutFile))
	if err != nil {
		return nil, err
	}
	var lens validate.Unembedder
	if m != nil {
		if err := p.CheckModel(vecpack.ModelInfo{ID: m.Name, DModel: m.Dim, NLayers: m.Layers}); err != nil {
			return nil, err
		}
		lens = Lens{M: m}
	}
	r, err := validate.Run(p, h, validate.Options{Unembedder: lens})
	if err != nil {
		return nil, err
	}
	if m != nil {
		if r.Handwritten, err = ScoreHandwritten(context.Background(), m, p, validate.Options{}); err != nil {
			return nil, err
		}
	}
	if p.Meta.BestLayer != r.BestLayer {
		p.Meta.BestLayer = r.BestLayer
		if err := vecpack.Write(packPath, p); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Experiments runs feel, dose and implicit with the run's pack and writes
// their JSON under experiments/.
func Experiments(ctx context.Context, m *model.Model, dir string) (*experiment.FeelResult, *experiment.DoseResult, *experiment.ImplicitResult, error) {
	p, err := vecpack.Read(filepath.Join(dir, PackFile))
	if err != nil {
		return nil, nil, nil, err
	}
	env := &experiment.Env{Model: m, Pack: p, Layer: readout.Best}
	feel, err := experiment.Feel(ctx, env, experiment.FeelOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	dose, err := experiment.Dose(ctx, env, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	imp, err := experiment.Implicit(ctx, env, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	for name, v := range map[string]any{"feel": feel, "dose": dose, "implicit": imp} {
		if err := writeJSON(filepath.Join(dir, ExpDir, name+".json"), v); err != nil {
			return nil, nil, nil, err
		}
	}
	return feel, dose, imp, nil
}

// Report writes report.html and report.json in dir from a validation result
// and whatever experiment results dir/experiments holds: the baseline
// results (NAME.json) and, after them, each steered result
// (NAME.steer-*.json, see experiment.ResultFile), labelled with its steering.
func Report(dir string, v *validate.Result, params map[string]string) (htmlPath, jsonPath string, err error) {
	secs, err := experimentSections(filepath.Join(dir, ExpDir))
	if err != nil {
		return "", "", err
	}
	fsecs, err := functionSections(filepath.Join(dir, ExpDir))
	if err != nil {
		return "", "", err
	}
	secs = append(secs, fsecs...)
	return report.WriteFiles(dir, report.Input{Result: v, Params: params, Sections: secs, Version: Version})
}

// experimentSections reads the experiment results in expDir into report
// sections: baselines first, then steered results, each labelled.
func experimentSections(expDir string) ([]report.Section, error) {
	// read loads one file of each experiment (baseline or one steering) and
	// returns its sections, labelled when steered.
	read := func(feelPath, dosePath, impPath string) ([]report.Section, error) {
		var feel *experiment.FeelResult
		var dose *experiment.DoseResult
		var imp *experiment.ImplicitResult
		var steering [3][]string
		for _, f := range []struct {
			path string
			dst  any
		}{{feelPath, &feel}, {dosePath, &dose}, {impPath, &imp}} {
			if f.path == "" {
				continue
			}
			if _, err := loadJSON(f.path, f.dst); err != nil {
				return nil, err
			}
		}
		if feel != nil {
			steering[0] = feel.Steering
		}
		if dose != nil {
			steering[1] = dose.Steering
		}
		if imp != nil {
			steering[2] = imp.Steering
		}
		secs := Sections(feel, dose, imp)
		k := 0
		for i, present := range []bool{feel != nil, dose != nil, imp != nil} {
			if present {
				LabelSteered(&secs[k], steering[i])
				k++
			}
		}
		return secs, nil
	}
	names := []string{"feel", "dose", "implicit"}
	var base [3]string
	for i, n := range names {
		base[i] = filepath.Join(expDir, experiment.ResultFile(n, nil))
	}
	out, err := read(base[0], base[1], base[2])
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		steered, err := filepath.Glob(filepath.Join(expDir, n+".steer-*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(steered)
		for _, path := range steered {
			var paths [3]string
			paths[i] = path
			secs, err := read(paths[0], paths[1], paths[2])
			if err != nil {
				return nil, err
			}
			out = append(out, secs...)
		}
	}
	return out, nil
}

// LabelSteered marks a report section as a result under steering: its
// title, ID and note say so, so that it is never read as the baseline.
func LabelSteered(s *report.Section, steering []string) {
	if len(steering) == 0 {
		return
	}
	spec := strings.Join(steering, ", ")
	s.ID = strings.TrimSuffix(experiment.ResultFile(s.ID, steering), ".json")
	s.Title += " — steered (" + spec + ")"
	s.Steering = steering
	s.Note = "Every forward pass steered with " + spec + ", not the baseline. " + s.Note
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err })
}
