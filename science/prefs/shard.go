package prefs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Setup is what the shards of one experiment share: the model, the pack,
// and every setting that decides which comparisons run and how they are
// steered.
type Setup struct {
	Model       string       `json:"model"`
	Weights     string       `json:"weights"` // the model's weights hash
	Pack        string       `json:"pack"`    // the pack's model hash and creation time
	Protocol    string       `json:"protocol"`
	Activities  []string     `json:"activities"`
	Names       []string     `json:"names"`
	Emotions    []string     `json:"emotions"`
	Causal      bool         `json:"causal"`
	Strength    float64      `json:"strength"`
	Layers      []int        `json:"layers"`
	SteerLayers []int        `json:"steer_layers"`
	Kind        vecpack.Kind `json:"kind"`
	Seed        uint64       `json:"seed"`
	Comparisons int          `json:"comparisons"`
	Shards      int          `json:"shards"`
}

// Partial is one shard's share of the experiment: the log-probabilities of
// options A and B of comparisons Lo..Hi−1 (in the experiment's fixed
// order), unsteered and steered with each emotion.
type Partial struct {
	Setup   Setup                   `json:"setup"`
	Shard   shard.Shard             `json:"shard"`
	Lo      int                     `json:"lo"`
	Hi      int                     `json:"hi"`
	Base    [][2]float64            `json:"base"`
	Steered map[string][][2]float64 `json:"steered,omitempty"`
	Tokens  int64                   `json:"tokens"` // run through the model
}

func (e *experiment) setup(shards int) (Setup, error) {
	w, err := e.m.WeightsHash()
	if err != nil {
		return Setup{}, err
	}
	s := Setup{Model: e.m.Name, Weights: w, Protocol: e.res.Protocol, Activities: e.o.Activities, Names: e.o.Names,
		Emotions: e.emos, Causal: e.o.Causal, Strength: e.res.Strength, Layers: e.res.Layers, SteerLayers: e.res.SteerLayers,
		Kind: e.o.Kind, Seed: e.o.Seed, Comparisons: len(e.comps), Shards: shards}
	if e.pack != nil {
		s.Pack = e.pack.Meta.Model.Hash + " " + e.pack.Meta.Created
	}
	return s, nil
}

// block returns the comparisons shard s owns: a contiguous block of the
// batched forward calls one process makes (runCalls), so that the shard
// makes the same calls and gets the same numbers.
func (e *experiment) block(s shard.Shard) (lo, hi int) {
	var calls [][2]int
	e.r.runCalls(context.Background(), e.comps, nil, nil, func(from, upto int) bool {
		calls = append(calls, [2]int{from, upto})
		return false
	})
	a, b := s.Range(len(calls))
	if a == b {
		return 0, 0
	}
	return calls[a][0], calls[b-1][1]
}

// RunShard runs shard s of the experiment Run would run: its block of the
// comparisons, unsteered and steered with each emotion. Merge combines
// the shards' partials.
func RunShard(ctx context.Context, m *model.Model, pack *vecpack.Pack, o Options, s shard.Shard) (*Partial, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("prefs: %w", err)
	}
	e, err := newExperiment(m, pack, o)
	if err != nil {
		return nil, err
	}
	set, err := e.setup(s.Count)
	if err != nil {
		return nil, err
	}
	lo, hi := e.block(s)
	p := &Partial{Setup: set, Shard: s, Lo: lo, Hi: hi}
	only := func(from, upto int) bool { return from >= lo && upto <= hi }
	run := func(hooks func(c *comparison, branch int) *hook.Set, stage string) ([][2]float64, error) {
		lps, err := e.r.runCalls(ctx, e.comps, hooks, e.progress(stage), only)
		if err != nil {
			return nil, err
		}
		return lps[lo:hi], nil
	}
	if p.Base, err = run(nil, "baseline"); err != nil {
		return nil, err
	}
	if e.o.Causal && e.pack != nil {
		p.Steered = map[string][][2]float64{}
		for k, em := range e.emos {
			if p.Steered[em], err = run(e.hooks(k), "steer "+em); err != nil {
				return nil, err
			}
		}
	}
	p.Tokens = e.r.tokens
	return p, nil
}

// ErrMissingShards is wrapped by Merge's error when shards are missing.
var ErrMissingShards = errors.New("missing shards")

// Merge pools the shards' outcomes and computes the result Run computes
// (Elo, intervals, readouts, the causal test) from them: identical to one
// process's. The shards must be every shard of one count, once each, run
// with the setup that m, pack and o give; otherwise the error names the
// missing shards or the setting that differs.
func Merge(ctx context.Context, m *model.Model, pack *vecpack.Pack, o Options, parts []*Partial) (*Result, error) {
	e, err := newExperiment(m, pack, o)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("prefs: no shards to merge: %w", ErrMissingShards)
	}
	n := parts[0].Setup.Shards
	want, err := e.setup(n)
	if err != nil {
		return nil, err
	}
	byIndex := make([]*Partial, n)
	for _, p := range parts {
		if d := diffSetup(want, p.Setup); d != "" {
			return nil, fmt.Errorf("prefs: shard %s was run with other settings: %s", p.Shard, d)
		}
		if p.Shard.Count != n || p.Shard.Validate() != nil {
			return nil, fmt.Errorf("prefs: shard %s in a merge of %d shards", p.Shard, n)
		}
		if byIndex[p.Shard.Index] != nil {
			return nil, fmt.Errorf("prefs: shard %s given twice", p.Shard)
		}
		lo, hi := e.block(p.Shard)
		if p.Lo != lo || p.Hi != hi || len(p.Base) != hi-lo {
			return nil, fmt.Errorf("prefs: shard %s holds comparisons %d..%d (%d), want %d..%d", p.Shard, p.Lo, p.Hi, len(p.Base), lo, hi)
		}
		for _, em := range want.Emotions {
			if want.Causal && len(p.Steered[em]) != hi-lo {
				return nil, fmt.Errorf("prefs: shard %s has %d steered comparisons for %s, want %d", p.Shard, len(p.Steered[em]), em, hi-lo)
			}
		}
		byIndex[p.Shard.Index] = p
	}
	var missing []string
	for i, p := range byIndex {
		if p == nil {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("prefs: shards %s of %d are missing: %w", strings.Join(missing, ", "), n, ErrMissingShards)
	}
	base := make([][2]float64, 0, len(e.comps))
	for _, p := range byIndex {
		base = append(base, p.Base...)
		e.r.tokens += p.Tokens
	}
	return e.analyse(ctx, base, func(_ int, em string) ([][2]float64, error) {
		lps := make([][2]float64, 0, len(e.comps))
		for _, p := range byIndex {
			lps = append(lps, p.Steered[em]...)
		}
		return lps, nil
	})
}

// diffSetup names the fields in which two setups differ, with both values.
func diffSetup(a, b Setup) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		x, _ := json.Marshal(va.Field(i).Interface())
		y, _ := json.Marshal(vb.Field(i).Interface())
		if !slices.Equal(x, y) {
			out = append(out, fmt.Sprintf("%s %s against %s", va.Type().Field(i).Name, y, x))
		}
	}
	return strings.Join(out, "; ")
}

// PartialFile is the name of shard s's file in a shards folder.
func PartialFile(s shard.Shard) string { return fmt.Sprintf("prefs.%d-of-%d.json", s.Index, s.Count) }

// WritePartial writes p into dir as PartialFile, atomically: a shard run
// again replaces its own file and nothing else.
func WritePartial(dir string, p *Partial) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("prefs: shard %s: %w", p.Shard, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, PartialFile(p.Shard)), 0o644, append(b, '\n'))
}

// ReadPartials reads every shard file (PartialFile) in dir.
func ReadPartials(dir string) ([]*Partial, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "prefs.*-of-*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []*Partial
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var p Partial
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("prefs: %s: %w", path, err)
		}
		if filepath.Base(path) != PartialFile(p.Shard) {
			return nil, fmt.Errorf("prefs: %s holds shard %s", path, p.Shard)
		}
		out = append(out, &p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prefs: no shard files (prefs.I-of-N.json) in %s: %w", dir, ErrMissingShards)
	}
	return out, nil
}
