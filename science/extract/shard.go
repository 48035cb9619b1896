package extract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/limbic-dev/limbic/science/vecpack"
)

// Identity is what the shards of one extraction share: the model, the
// settings that decide what is accumulated, the shard count and the number
// of lines of each kind of text that the shards divide among themselves.
type Identity struct {
	Model        vecpack.ModelInfo
	Emotions     []string
	Layers       []int
	NeutralIdx   []int // positions in Layers with neutral statistics
	Window       Window
	HeldOut      float64
	Shards       int
	NeutralLines int
	StoryLines   int
}

func (id Identity) fingerprint() string {
	b, _ := json.Marshal(id)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// diff names the fields in which id and o differ, with both values.
func (id Identity) diff(o Identity) string {
	var out []string
	a, b := reflect.ValueOf(id), reflect.ValueOf(o)
	for i := 0; i < a.NumField(); i++ {
		x, _ := json.Marshal(a.Field(i).Interface())
		y, _ := json.Marshal(b.Field(i).Interface())
		if string(x) != string(y) {
			out = append(out, fmt.Sprintf("%s %s against %s", a.Type().Field(i).Name, x, y))
		}
	}
	if len(out) == 0 {
		return "no difference"
	}
	return strings.Join(out, "; ")
}

// ErrMissingShards is wrapped by MergeShards' error when shards are
// missing or incomplete.
var ErrMissingShards = errors.New("missing shards")

// MergeShards combines the states that the shards of one sharded run
// (Config.Shard) wrote to their checkpoint paths: running sums, counts,
// norm statistics and neutral moments are added in float64, held-out sets
// concatenated in shard order, then the vectors and the pack are built
// once, with denoising dn (not part of the shards' identity, as for a
// resumed run) and params recorded in the pack; nil takes those that shard
// 0 recorded. Every shard of the count
// must be there, once, complete, and with the same identity; otherwise the
// error names the missing shards by index, or the first shard whose
// identity differs and how.
func MergeShards(paths []string, dn *Denoise, params map[string]string) (*Result, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("extract: no shards to merge: %w", ErrMissingShards)
	}
	var sts []*state
	for _, p := range paths {
		st, err := loadState(p)
		if err != nil {
			return nil, err
		}
		if st.Shard.Count < 1 || st.Ident.Shards != st.Shard.Count {
			return nil, fmt.Errorf("extract: %s is not the state of a sharded extraction", p)
		}
		if len(sts) > 0 && st.Fingerprint != sts[0].Fingerprint {
			return nil, fmt.Errorf("extract: shard %s (%s) comes from another extraction than shard %s (%s): %s",
				st.Shard, p, sts[0].Shard, paths[0], sts[0].Ident.diff(st.Ident))
		}
		sts = append(sts, st)
	}
	n := sts[0].Shard.Count
	byIndex := make([]*state, n)
	for i, st := range sts {
		if byIndex[st.Shard.Index] != nil {
			return nil, fmt.Errorf("extract: shard %s given twice (%s)", st.Shard, paths[i])
		}
		byIndex[st.Shard.Index] = st
	}
	var missing, incomplete []string
	for i, st := range byIndex {
		switch {
		case st == nil:
			missing = append(missing, fmt.Sprint(i))
		case !st.Complete:
			incomplete = append(incomplete, fmt.Sprint(i))
		}
	}
	if len(missing) > 0 || len(incomplete) > 0 {
		var what []string
		if len(missing) > 0 {
			what = append(what, fmt.Sprintf("shards %s of %d have no state", strings.Join(missing, ", "), n))
		}
		if len(incomplete) > 0 {
			what = append(what, fmt.Sprintf("shards %s of %d did not finish (run them again)", strings.Join(incomplete, ", "), n))
		}
		return nil, fmt.Errorf("extract: %s: %w", strings.Join(what, "; "), ErrMissingShards)
	}
	id := byIndex[0].Ident
	all := &state{Version: checkpointVersion, Fingerprint: byIndex[0].Fingerprint, Acc: NewAccumulator(id.Emotions, id.Layers, id.Model.DModel),
		Neutral: map[int]*Moments{}, HeldOut: vecpack.NewHeldOut(id.Model, id.Emotions, id.Layers), Done: map[string]bool{}}
	for _, i := range id.NeutralIdx {
		all.Neutral[i] = NewMoments(id.Model.DModel)
	}
	for _, st := range byIndex {
		if err := all.Acc.Merge(st.Acc); err != nil {
			return nil, err
		}
		for i, m := range all.Neutral {
			o := st.Neutral[i]
			if o == nil {
				return nil, fmt.Errorf("extract: shard %s has no neutral moments at layer %d", st.Shard, id.Layers[i])
			}
			if err := m.Merge(o); err != nil {
				return nil, err
			}
		}
		if err := all.HeldOut.Merge(st.HeldOut); err != nil {
			return nil, err
		}
		for tid := range st.Done {
			if all.Done[tid] {
				return nil, fmt.Errorf("extract: text %s was read by two shards (shard %s and an earlier one): a story ID repeats in the story files", tid, st.Shard)
			}
			all.Done[tid] = true
		}
		all.NeutralTexts += st.NeutralTexts
		s := &all.Stats
		s.Train += st.Stats.Train
		s.HeldOut += st.Stats.HeldOut
		s.Neutral += st.Stats.Neutral
		s.Skipped += st.Stats.Skipped
		s.Ignored += st.Stats.Ignored
		s.Repeated += st.Stats.Repeated
	}
	if dn == nil {
		dn = &byIndex[0].Denoise
	}
	if params == nil {
		params = byIndex[0].Params
	}
	return finish(all, id.Model, id.Window, *dn, len(id.NeutralIdx) > 0, params)
}

// ShardComplete reports whether the state at path is a sharded
// extraction's state that read all its texts.
func ShardComplete(path string) (bool, error) {
	st, err := loadState(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.Complete, nil
}
