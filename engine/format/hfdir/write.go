package hfdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// Option configures Write.
type Option func(*options)

type options struct {
	maxShard  int64
	overwrite bool
}

// MaxShardBytes splits the weights into shards of at most n bytes of tensor
// data each (a larger tensor gets a shard of its own), named
// model-00001-of-0000N.safetensors, with a model.safetensors.index.json.
// When everything fits in one shard, a plain model.safetensors is written.
// n <= 0 means no limit.
func MaxShardBytes(n int64) Option { return func(o *options) { o.maxShard = n } }

// Overwrite lets Write replace an existing non-empty directory.
func Overwrite() Option { return func(o *options) { o.overwrite = true } }

// Write writes a model directory: configJSON as config.json, the tensors (in
// the given order) as model.safetensors or shards, and each extra file
// (name → content, e.g. "tokenizer.json"). It builds the directory in a
// temporary sibling and moves it into place, so dir is either untouched or
// complete. An existing empty directory is replaced; a non-empty one only
// with Overwrite.
func Write(dir string, configJSON []byte, tensors []*tensor.Tensor, extra map[string][]byte, opts ...Option) (err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir = filepath.Clean(dir)
	if err := checkInputs(configJSON, tensors, extra); err != nil {
		return err
	}
	if err := checkDest(dir, o.overwrite); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("hfdir: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := fill(tmp, configJSON, tensors, extra, o.maxShard); err != nil {
		return fmt.Errorf("hfdir: write %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("hfdir: %w", err)
	}
	atomicfile.SyncDir(tmp)
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return fmt.Errorf("hfdir: move into place: %w", err)
	}
	return nil
}

// reserved are the names Write produces itself.
func reserved(name string) bool {
	if name == ConfigFile || name == WeightFile || name == IndexFile {
		return true
	}
	return strings.HasPrefix(name, "model-") && strings.HasSuffix(name, ".safetensors")
}

func checkInputs(configJSON []byte, tensors []*tensor.Tensor, extra map[string][]byte) error {
	var cfg map[string]any
	if err := json.Unmarshal(configJSON, &cfg); err != nil {
		return fmt.Errorf("hfdir: config JSON: %w", err)
	}
	if cfg == nil {
		return errors.New("hfdir: config JSON must be an object")
	}
	for name := range extra {
		if name == "" || !filepath.IsLocal(name) || strings.ContainsAny(name, `/\`) {
			return fmt.Errorf("hfdir: extra file %q must be a plain file name", name)
		}
		if reserved(name) {
			return fmt.Errorf("hfdir: extra file %q would clash with the files Write produces", name)
		}
	}
	// Validate every tensor (dtype, size, unique names) before writing.
	if _, err := safetensors.EncodeHeader(tensors, nil); err != nil {
		return fmt.Errorf("hfdir: %w", err)
	}
	return nil
}

func checkDest(dir string, overwrite bool) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hfdir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("hfdir: %s exists and is not a directory", dir)
	}
	if overwrite {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("hfdir: %w", err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("hfdir: %s exists and is not empty (use the Overwrite option to replace it)", dir)
	}
	return nil
}

// fill writes the directory's files into tmp.
func fill(tmp string, configJSON []byte, tensors []*tensor.Tensor, extra map[string][]byte, maxShard int64) error {
	files := map[string][]byte{ConfigFile: configJSON}
	for name, b := range extra {
		files[name] = b
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		b := files[name]
		if err := atomicfile.CreateSynced(filepath.Join(tmp, name), 0o644, func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		}); err != nil {
			return err
		}
	}
	meta := map[string]string{"format": "pt"}
	shards := plan(tensors, maxShard)
	if len(shards) <= 1 {
		return writeShard(filepath.Join(tmp, WeightFile), tensors, meta)
	}
	idx := index{Metadata: map[string]any{}, WeightMap: map[string]string{}}
	var total int64
	for i, group := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := writeShard(filepath.Join(tmp, name), group, meta); err != nil {
			return err
		}
		for _, t := range group {
			idx.WeightMap[t.Name] = name
			total += int64(len(t.Data))
		}
	}
	idx.Metadata["total_size"] = total
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return atomicfile.CreateSynced(filepath.Join(tmp, IndexFile), 0o644, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func writeShard(path string, tensors []*tensor.Tensor, meta map[string]string) error {
	return atomicfile.CreateSynced(path, 0o644, func(w io.Writer) error {
		return safetensors.Encode(w, tensors, meta)
	})
}

// plan groups tensors, in order, into shards of at most maxShard data bytes.
func plan(tensors []*tensor.Tensor, maxShard int64) [][]*tensor.Tensor {
	if maxShard <= 0 {
		return [][]*tensor.Tensor{tensors}
	}
	var shards [][]*tensor.Tensor
	var cur []*tensor.Tensor
	var size int64
	for _, t := range tensors {
		n := int64(len(t.Data))
		if len(cur) > 0 && size+n > maxShard {
			shards = append(shards, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += n
	}
	if len(cur) > 0 || len(shards) == 0 {
		shards = append(shards, cur)
	}
	return shards
}
