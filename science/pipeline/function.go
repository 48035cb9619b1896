package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/prefs"
	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Files of the function experiments, under ExpDir (and EvalDir for the
// rollouts).
const (
	PrefsFile = "prefs.json"
	EvalFile  = "eval.json"
	EvalDir   = "eval"
)

// DefaultSeed is a run's seed unless given (limbic run --seed).
const DefaultSeed = 1

// PrefsEmotions are the emotions the run's preference experiment reads and
// steers (those the pack has): four pleasant and four unpleasant ones, whose
// steering should raise and lower an activity's Elo.
var PrefsEmotions = []string{"happy", "excited", "proud", "grateful", "sad", "scared", "angry", "lonely"}

// Prefs runs the preference experiment with the run's pack and writes
// ExpDir/PrefsFile. A result written after the pack is reused.
func Prefs(ctx context.Context, m *model.Model, dir string, seed uint64, progress func(stage string, done, total int)) (*prefs.Result, error) {
	packPath := filepath.Join(dir, PackFile)
	out := filepath.Join(dir, ExpDir, PrefsFile)
	if fresh(out, packPath) {
		var r prefs.Result
		if ok, err := loadJSON(out, &r); err != nil || ok {
			return &r, err
		}
	}
	p, err := vecpack.Read(packPath)
	if err != nil {
		return nil, err
	}
	o := PrefsOptions(p, seed)
	o.Progress = progress
	r, err := prefs.Run(ctx, m, p, o)
	if err != nil {
		return nil, err
	}
	return r, writeJSON(out, r)
}

// PrefsOptions are the options of a run's preference experiment with pack
// p (nil for none): the PrefsEmotions p has, steered in the causal test
// when there are any, 500 bootstrap replicates, 2,000 permutations and the
// run's seed. limbic prefs --dir uses them for the flags it is not given.
func PrefsOptions(p *vecpack.Pack, seed uint64) prefs.Options {
	var emos []string
	if p != nil {
		for _, e := range PrefsEmotions {
			if _, err := p.EmotionIndex(e); err == nil {
				emos = append(emos, e)
			}
		}
	}
	return prefs.Options{Emotions: emos, Causal: len(emos) > 0, Seed: seed, Bootstrap: 500, Permutations: 2000}
}

// Behaviour runs the shipped behaviour scenarios that fit the model (its
// kind and its context length) with
// their default sweeps (emotions the pack lacks are left out), writing the
// rollouts under EvalDir (resumable) and ExpDir/EvalFile.
func Behaviour(ctx context.Context, m *model.Model, dir string, progress func(stage string, done, total int)) ([]*behave.Result, error) {
	p, err := vecpack.Read(filepath.Join(dir, PackFile))
	if err != nil {
		return nil, err
	}
	all, err := behave.Shipped()
	if err != nil {
		return nil, err
	}
	hash, err := m.WeightsHash()
	if err != nil {
		return nil, err
	}
	b := model.NewBatcher(m.Transformer, model.BatcherOptions{MaxSeqs: 16})
	defer b.Close()
	env := behave.Env{Model: m, Batcher: b, Pack: p, ModelID: hash, Parallel: 32}
	var results []*behave.Result
	// A short-context chat model (stories15m-chat) is a story model: it
	// gets the story analogues, and any scenario whose prompt and reply do
	// not fit its context is left out with a warning.
	for _, s := range behave.Fitting(all, IsChat(m) && !IsShortChat(m)) {
		if ids, err := s.PromptIDs(m); err != nil {
			return nil, err
		} else if len(ids)+s.MaxTokens > m.MaxSeq {
			fmt.Fprintf(os.Stderr, "eval: scenario %s left out: prompt of %d tokens + max_tokens %d exceeds the context length of %d\n", s.Name, len(ids), s.MaxTokens, m.MaxSeq)
			continue
		}
		var keep []string
		for _, e := range s.Sweep.Emotions {
			if _, err := p.EmotionIndex(e); err == nil {
				keep = append(keep, e)
			}
		}
		if len(keep) == 0 {
			continue
		}
		s.Sweep.Emotions = keep
		if progress != nil {
			name := "eval " + s.Name
			env.Progress = func(done, total int) { progress(name, done, total) }
		}
		r, err := behave.Run(ctx, env, s, filepath.Join(dir, EvalDir, s.Name+".jsonl"))
		if err != nil {
			return nil, fmt.Errorf("eval %s: %w", s.Name, err)
		}
		results = append(results, r)
	}
	return results, writeJSON(filepath.Join(dir, ExpDir, EvalFile), map[string]any{"scenarios": results})
}

// functionSections reads the function experiments' results in expDir into
// report sections (none when absent).
func functionSections(expDir string) ([]report.Section, error) {
	var out []report.Section
	var pr prefs.Result
	if ok, err := loadJSON(filepath.Join(expDir, PrefsFile), &pr); err != nil {
		return nil, err
	} else if ok {
		out = append(out, prefs.Sections(&pr)...)
	}
	var ev struct {
		Scenarios []*behave.Result `json:"scenarios"`
	}
	if ok, err := loadJSON(filepath.Join(expDir, EvalFile), &ev); err != nil {
		return nil, err
	} else if ok && len(ev.Scenarios) > 0 {
		sec := behave.Section(ev.Scenarios)
		var figs []template.HTML
		for _, r := range ev.Scenarios {
			figs = append(figs, template.HTML(behave.Plot(r)))
		}
		sec.Figure = report.Figures(figs...)
		out = append(out, sec)
	}
	return out, nil
}

// loadJSON reads path into dst; false when there is no such file.
func loadJSON(path string, dst any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// fresh reports whether path exists and is newer than src.
func fresh(path, src string) bool {
	a, err := os.Stat(path)
	if err != nil {
		return false
	}
	b, err := os.Stat(src)
	return err == nil && a.ModTime().After(b.ModTime())
}
