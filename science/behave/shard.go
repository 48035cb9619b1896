package behave

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/shard"
)

// ShardFile is the name of shard s's rollouts file of scenario name.
func ShardFile(name string, s shard.Shard) string {
	return fmt.Sprintf("%s.%d-of-%d.jsonl", name, s.Index, s.Count)
}

// ErrMissingShards is wrapped by MergeShards' error when shards are
// missing or did not finish.
var ErrMissingShards = errors.New("missing shards")

// MergeShards writes into path the rollouts file one process would hold
// for scenario sc: every rollout of the shards' files in dir (ShardFile),
// in table order. The shards' files must all have been made with the
// settings env and sc give (else the error names the difference) and hold
// every rollout of their blocks (else the error names the shards by
// index). Run on path then generates nothing and gives the table.
func MergeShards(env Env, sc *Scenario, dir, path string) error {
	pr, err := prepare(env, sc)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(sc.Name) + `\.(\d+)-of-(\d+)\.jsonl$`)
	count := 0
	files := map[int]string{}
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		s, err := shard.Parse(m[1] + "/" + m[2])
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, e.Name()), err)
		}
		if count != 0 && s.Count != count {
			return fmt.Errorf("%s: rollouts of %s in shards of %d and of %d: remove the files of the count you do not want", dir, sc.Name, count, s.Count)
		}
		count = s.Count
		files[s.Index] = filepath.Join(dir, e.Name())
	}
	if count == 0 {
		return fmt.Errorf("%s: no shard files of %s (%s): %w", dir, sc.Name, ShardFile(sc.Name, shard.Shard{Index: 0, Count: 2}), ErrMissingShards)
	}
	have := map[string]map[int]Rollout{}
	var missing, short []string
	for i := 0; i < count; i++ {
		p, ok := files[i]
		if !ok {
			missing = append(missing, strconv.Itoa(i))
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		mine := map[string]map[int]Rollout{}
		_, err = readRollouts(p, f, pr.hdr, mine)
		f.Close()
		if err != nil {
			return err
		}
		s := shard.Shard{Index: i, Count: count}
		lo, hi := s.Range(len(pr.keys) * sc.Rollouts)
		lack := 0
		for pos := lo; pos < hi; pos++ {
			k, idx := pr.keys[pos/sc.Rollouts], pos%sc.Rollouts
			r, ok := mine[k][idx]
			if !ok {
				lack++
				continue
			}
			if r.Vec != pr.plans[k].vec {
				return fmt.Errorf("%s: cell %s was steered with other vectors (another pack or kind?)", p, k)
			}
			if have[k] == nil {
				have[k] = map[int]Rollout{}
			}
			have[k][idx] = r
		}
		if lack > 0 {
			short = append(short, fmt.Sprintf("%d (%d rollouts missing)", i, lack))
		}
	}
	if len(missing) > 0 || len(short) > 0 {
		var what []string
		if len(missing) > 0 {
			what = append(what, fmt.Sprintf("shards %s of %d have no file", strings.Join(missing, ", "), count))
		}
		if len(short) > 0 {
			what = append(what, fmt.Sprintf("shards %s of %d did not finish", strings.Join(short, ", "), count))
		}
		return fmt.Errorf("%s: %s: run them (again): %w", sc.Name, strings.Join(what, "; "), ErrMissingShards)
	}
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		line, err := json.Marshal(map[string]header{"header": pr.hdr})
		if err != nil {
			return err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
		for _, k := range pr.keys {
			for i := range sc.Rollouts {
				line, err := json.Marshal(have[k][i])
				if err != nil {
					return err
				}
				if _, err := w.Write(append(line, '\n')); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
