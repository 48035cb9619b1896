package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// ShardDir is the folder of a run directory where the shards of sharded
// steps (Config.Shard) write their files, each shard only its own:
//
//	stories.I-of-N.jsonl, neutral.I-of-N.jsonl  a stories shard's texts
//	stories.I-of-N.json                         written last: the shard is complete
//	extract.I-of-N.state                        an extract shard's running sums
//
// A shard's files are written under temporary names (.part, or temporary
// files renamed into place), so that a shard killed at any point and run
// again replaces its own output and nothing else.
const ShardDir = "shards"

// Steps that MergeShards knows.
const (
	StepStories = "stories"
	StepExtract = "extract"
)

// ErrNoShards is wrapped by the merges when a run directory holds no shard
// of the step.
var ErrNoShards = errors.New("no shards")

func shardName(step string, s shard.Shard, ext string) string {
	return fmt.Sprintf("%s.%d-of-%d%s", step, s.Index, s.Count, ext)
}

// storiesManifest is a stories shard's record of what it generated.
type storiesManifest struct {
	Model     string        `json:"model"`
	Weights   string        `json:"weights,omitempty"` // when the model writes the stories
	Generator string        `json:"generator"`
	Style     stories.Style `json:"style"`
	MaxTokens int           `json:"max_tokens"`
	Openings  string        `json:"openings,omitempty"`
	Emotional stories.Spec  `json:"emotional"`
	Neutral   stories.Spec  `json:"neutral"`
	Shards    int           `json:"shards"`
	Shard     int           `json:"shard"`
	Emo, Neu  stories.Summary
}

// identity is the manifest less what differs between the shards of a run.
func (m storiesManifest) identity() storiesManifest {
	m.Shard, m.Emo, m.Neu = 0, stories.Summary{}, stories.Summary{}
	return m
}

// diffFields names the fields in which a and b (structs of one type)
// differ, with both values as JSON.
func diffFields(a, b any) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		x, _ := json.Marshal(va.Field(i).Interface())
		y, _ := json.Marshal(vb.Field(i).Interface())
		if string(x) != string(y) {
			out = append(out, fmt.Sprintf("%s %s against %s", va.Type().Field(i).Name, x, y))
		}
	}
	return strings.Join(out, "; ")
}

// storiesShard generates shard cfg.Shard of the run's stories and neutral
// texts into ShardDir.
func storiesShard(ctx context.Context, m *model.Model, cfg Config, style stories.Style, render func(string) (string, error),
	emoSpec, neuSpec stories.Spec) (emo, neu stories.Summary, err error) {
	dir := filepath.Join(cfg.Dir, ShardDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return emo, neu, err
	}
	man := storiesManifest{Model: m.Name, Generator: cfg.Generator.Name(), Style: style, MaxTokens: cfg.MaxTokens, Openings: cfg.Openings,
		Emotional: emoSpec, Neutral: neuSpec, Shards: cfg.Shard.Count, Shard: cfg.Shard.Index}
	if _, ok := cfg.Generator.(Generator); ok {
		if man.Weights, err = m.WeightsHash(); err != nil {
			return emo, neu, err
		}
	}
	manPath := filepath.Join(dir, shardName(StepStories, cfg.Shard, ".json"))
	// The manifest goes first, so that a shard run again is incomplete
	// until it has finished again.
	if err := os.Remove(manPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return emo, neu, err
	}
	gen := func(step string, spec stories.Spec, stage string) (stories.Summary, error) {
		final := filepath.Join(dir, shardName(step, cfg.Shard, ".jsonl"))
		part := final + ".part"
		if err := os.Rename(final, part); err != nil && !errors.Is(err, os.ErrNotExist) {
			return stories.Summary{}, err
		}
		st, err := stories.OpenStore(part)
		if err != nil {
			return stories.Summary{}, err
		}
		sc, err := cfg.storiesConfig(spec, style, render)
		if err != nil {
			st.Close()
			return stories.Summary{}, err
		}
		sum, err := stories.Generate(ctx, sc, cfg.Generator, st, cfg.progress(stage))
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return sum, err
		}
		if err := os.Rename(part, final); err != nil {
			return sum, err
		}
		atomicfile.SyncDir(dir)
		return sum, nil
	}
	if emo, err = gen("stories", emoSpec, "stories"); err != nil {
		return emo, neu, err
	}
	cfg.Log("stories shard %s: %d planned, %d written now, %d already there, %d dropped", cfg.Shard, emo.Planned, emo.Written, emo.Skipped, emo.Dropped)
	if neu, err = gen("neutral", neuSpec, "neutral"); err != nil {
		return emo, neu, err
	}
	man.Emo, man.Neu = emo, neu
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return emo, neu, err
	}
	return emo, neu, atomicfile.WriteBytes(manPath, 0o644, append(b, '\n'))
}

var shardFile = regexp.MustCompile(`^([a-z]+)\.(\d+)-of-(\d+)(\.[a-z]+)$`)

// findShards returns the shards of step with files ending in ext in dir,
// by index, and their count: an error when the files name different
// counts.
func findShards(dir, step, ext string) (map[int]string, int, error) {
	ents, err := os.ReadDir(filepath.Join(dir, ShardDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, err
	}
	found := map[int]string{}
	count := 0
	for _, e := range ents {
		m := shardFile.FindStringSubmatch(e.Name())
		if m == nil || m[1] != step || m[4] != ext {
			continue
		}
		s, err := shard.Parse(m[2] + "/" + m[3])
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", filepath.Join(dir, ShardDir, e.Name()), err)
		}
		if count != 0 && s.Count != count {
			return nil, 0, fmt.Errorf("%s: shards of %d and of %d: remove the files of the count you do not want", filepath.Join(dir, ShardDir), count, s.Count)
		}
		count = s.Count
		found[s.Index] = filepath.Join(dir, ShardDir, e.Name())
	}
	return found, count, nil
}

// missingList says which of count shards are not in found.
func missingList(found map[int]string, count int) string {
	var miss []string
	for i := 0; i < count; i++ {
		if _, ok := found[i]; !ok {
			miss = append(miss, strconv.Itoa(i))
		}
	}
	return strings.Join(miss, ", ")
}

// HasShards reports whether dir holds shards of step.
func HasShards(dir, step string) bool {
	ext := ".json"
	if step == StepExtract {
		ext = ".state"
	}
	found, _, err := findShards(dir, step, ext)
	return err == nil && len(found) > 0
}

// MergeStories concatenates the stories shards in dir, in shard order, into
// the run's story and neutral files: the files one process writes. Every
// shard of the count must have finished (its manifest written), and all
// must come from the same settings; otherwise the error names the missing
// shards by index or the settings that differ.
func MergeStories(dir string) (emo, neu int, err error) {
	found, n, err := findShards(dir, StepStories, ".json")
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("merge stories: %s: %w", filepath.Join(dir, ShardDir), ErrNoShards)
	}
	if miss := missingList(found, n); miss != "" {
		return 0, 0, fmt.Errorf("merge stories: shards %s of %d have not finished (no %s): run them (again)", miss, n,
			shardName(StepStories, shard.Shard{Index: 0, Count: n}, ".json")+" and the like")
	}
	var first storiesManifest
	for i := 0; i < n; i++ {
		var man storiesManifest
		b, err := os.ReadFile(found[i])
		if err != nil {
			return 0, 0, err
		}
		if err := json.Unmarshal(b, &man); err != nil {
			return 0, 0, fmt.Errorf("merge stories: %s: %w", found[i], err)
		}
		if man.Shard != i || man.Shards != n {
			return 0, 0, fmt.Errorf("merge stories: %s says shard %d/%d", found[i], man.Shard, man.Shards)
		}
		if i == 0 {
			first = man
			continue
		}
		if d := diffFields(first.identity(), man.identity()); d != "" {
			return 0, 0, fmt.Errorf("merge stories: shard %d/%d was written with other settings than shard 0/%d: %s", i, n, n, d)
		}
	}
	for _, f := range []struct {
		step, out string
		count     *int
	}{{"stories", StoriesFile, &emo}, {"neutral", NeutralFile, &neu}} {
		err := atomicfile.WriteFile(filepath.Join(dir, f.out), 0o644, func(w io.Writer) error {
			for i := 0; i < n; i++ {
				path := filepath.Join(dir, ShardDir, shardName(f.step, shard.Shard{Index: i, Count: n}, ".jsonl"))
				if err := stories.Read(path, func(*stories.Story) error { *f.count++; return nil }); err != nil {
					return err
				}
				if err := copyFile(w, path); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("merge stories: %w", err)
		}
	}
	return emo, neu, nil
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// MergeExtract combines the extract shards in dir (extract.MergeShards)
// and writes the run's vector pack and held-out set. dn and params, when
// not nil, replace the denoising and the pack's parameters that the shards
// recorded.
func MergeExtract(dir string, dn *extract.Denoise, params map[string]string) (*extract.Result, error) {
	found, n, err := findShards(dir, StepExtract, ".state")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("merge extract: %s: %w", filepath.Join(dir, ShardDir), ErrNoShards)
	}
	if miss := missingList(found, n); miss != "" {
		return nil, fmt.Errorf("merge extract: shards %s of %d have no state: run them (again): %w", miss, n, extract.ErrMissingShards)
	}
	var paths []string
	for i := 0; i < n; i++ {
		paths = append(paths, found[i])
	}
	ex, err := extract.MergeShards(paths, dn, params)
	if err != nil {
		return nil, fmt.Errorf("merge extract: %w", err)
	}
	if err := vecpack.Write(filepath.Join(dir, PackFile), ex.Pack); err != nil {
		return nil, err
	}
	if err := vecpack.WriteHeldOut(filepath.Join(dir, HeldOutFile), ex.HeldOut); err != nil {
		return nil, err
	}
	return ex, nil
}

// mergeIfMissing merges step's shards into its output file when that file
// is missing and shards are there: what the next step does before reading.
func mergeIfMissing(dir, step string) error {
	out := map[string]string{StepStories: StoriesFile, StepExtract: PackFile}[step]
	if _, err := os.Stat(filepath.Join(dir, out)); !errors.Is(err, os.ErrNotExist) || !HasShards(dir, step) {
		return nil
	}
	var err error
	switch step {
	case StepStories:
		_, _, err = MergeStories(dir)
	case StepExtract:
		_, err = MergeExtract(dir, nil, nil)
	}
	return err
}

// ShardSteps returns the steps whose shards dir holds, in pipeline order.
func ShardSteps(dir string) []string {
	var out []string
	for _, s := range []string{StepStories, StepExtract} {
		if HasShards(dir, s) {
			out = append(out, s)
		}
	}
	return out
}
