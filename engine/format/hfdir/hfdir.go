package hfdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Well-known file names.
const (
	ConfigFile = "config.json"
	WeightFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// Dir is an open model directory.
type Dir struct {
	// Path is the directory.
	Path string
	// ConfigJSON is config.json as read.
	ConfigJSON []byte
	// Config is config.json decoded (numbers are float64).
	Config map[string]any

	files []*safetensors.File          // open weight files
	where map[string]*safetensors.File // tensor name → its file
	names []string                     // sorted
}

// index is model.safetensors.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// Open opens the model directory dir: it reads config.json and opens the
// weights.
func Open(dir string) (*Dir, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("hfdir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("hfdir: %s is not a directory", dir)
	}
	d := &Dir{Path: dir, where: map[string]*safetensors.File{}}
	cfgPath := filepath.Join(dir, ConfigFile)
	d.ConfigJSON, err = os.ReadFile(cfgPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("hfdir: %s: no %s", dir, ConfigFile)
	}
	if err != nil {
		return nil, fmt.Errorf("hfdir: %w", err)
	}
	if err := json.Unmarshal(d.ConfigJSON, &d.Config); err != nil {
		return nil, fmt.Errorf("hfdir: %s: %w", cfgPath, err)
	}
	if d.Config == nil {
		return nil, fmt.Errorf("hfdir: %s: want a JSON object", cfgPath)
	}
	if err := d.openWeights(); err != nil {
		d.Close()
		return nil, err
	}
	sort.Strings(d.names)
	return d, nil
}

func (d *Dir) openWeights() error {
	single := filepath.Join(d.Path, WeightFile)
	if _, err := os.Stat(single); err == nil {
		return d.addFile(single)
	}
	idxPath := filepath.Join(d.Path, IndexFile)
	b, err := os.ReadFile(idxPath)
	if err == nil {
		return d.openIndexed(idxPath, b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("hfdir: %w", err)
	}
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return fmt.Errorf("hfdir: %w", err)
	}
	var paths []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".safetensors") && e.Type().IsRegular() {
			paths = append(paths, filepath.Join(d.Path, e.Name()))
		}
	}
	if len(paths) == 0 {
		return fmt.Errorf("hfdir: %s: no weights (%s, %s or *.safetensors)", d.Path, WeightFile, IndexFile)
	}
	for _, p := range paths {
		if err := d.addFile(p); err != nil {
			return err
		}
	}
	return nil
}

// addFile opens a weight file and registers all its tensors.
func (d *Dir) addFile(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("hfdir: %w", err)
	}
	d.files = append(d.files, f)
	for _, name := range f.Names() {
		if other, dup := d.where[name]; dup {
			return fmt.Errorf("hfdir: %s: tensor %q is in both %s and %s", d.Path, name, filepath.Base(other.Path()), filepath.Base(path))
		}
		d.where[name] = f
		d.names = append(d.names, name)
	}
	return nil
}

// openIndexed opens the shards named by an index.
func (d *Dir) openIndexed(idxPath string, b []byte) error {
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("hfdir: %s: %w", idxPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return fmt.Errorf("hfdir: %s: empty or missing weight_map", idxPath)
	}
	byShard := map[string][]string{}
	for name, shard := range idx.WeightMap {
		byShard[shard] = append(byShard[shard], name)
	}
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	for _, shard := range shards {
		names := byShard[shard]
		sort.Strings(names)
		if !filepath.IsLocal(shard) {
			return fmt.Errorf("hfdir: %s: shard %q (for tensor %q) is not a file inside the directory", idxPath, shard, names[0])
		}
		p := filepath.Join(d.Path, shard)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("hfdir: %s: shard %q, which should hold tensor %q, is missing", d.Path, shard, names[0])
		}
		f, err := safetensors.Open(p)
		if err != nil {
			return fmt.Errorf("hfdir: %w", err)
		}
		d.files = append(d.files, f)
		for _, name := range names {
			if !f.Has(name) {
				return fmt.Errorf("hfdir: %s: tensor %q, listed in %s, is not in shard %q", d.Path, name, IndexFile, shard)
			}
			d.where[name] = f
			d.names = append(d.names, name)
		}
	}
	return nil
}

// Names returns the tensor names, sorted.
func (d *Dir) Names() []string { return slices.Clone(d.names) }

// Has reports whether the model has a tensor named name.
func (d *Dir) Has(name string) bool {
	_, ok := d.where[name]
	return ok
}

// Info returns the header entry of the tensor named name (dtype, shape) without
// touching its data.
func (d *Dir) Info(name string) (safetensors.TensorInfo, bool) {
	f, ok := d.where[name]
	if !ok {
		return safetensors.TensorInfo{}, false
	}
	return f.Info(name)
}

// Tensor returns the tensor named name. Its data aliases the weight file's
// memory (read-only, valid until Close).
func (d *Dir) Tensor(name string) (*tensor.Tensor, error) {
	f, ok := d.where[name]
	if !ok {
		return nil, fmt.Errorf("hfdir: %s: no tensor %q", d.Path, name)
	}
	t, err := f.Tensor(name)
	if err != nil {
		return nil, fmt.Errorf("hfdir: %w", err)
	}
	return t, nil
}

// WeightFiles returns the paths of the open weight files.
func (d *Dir) WeightFiles() []string {
	out := make([]string, len(d.files))
	for i, f := range d.files {
		out[i] = f.Path()
	}
	return out
}

// File returns the path of the file called name in the directory (for
// example "tokenizer.json", "tokenizer_config.json" or
// "generation_config.json") if it exists as a regular file.
func (d *Dir) File(name string) (path string, ok bool) {
	if !filepath.IsLocal(name) {
		return "", false
	}
	p := filepath.Join(d.Path, name)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// Evict drops the weight files' pages from the resident set (see
// mmap.Region.Evict); tensors stay valid and read them again on access.
func (d *Dir) Evict() error {
	var errs []error
	for _, f := range d.files {
		errs = append(errs, f.Evict())
	}
	return errors.Join(errs...)
}

// EvictRange drops the pages wholly inside b, a part of one weight file's
// data, from the resident set (mmap.Region.EvictRange).
func (d *Dir) EvictRange(b []byte) error {
	var errs []error
	for _, f := range d.files {
		errs = append(errs, f.EvictRange(b))
	}
	return errors.Join(errs...)
}

// Close releases the weight files. Tensors obtained from the directory must
// not be used afterwards.
func (d *Dir) Close() error {
	var errs []error
	for _, f := range d.files {
		errs = append(errs, f.Close())
	}
	d.files = nil
	d.where = map[string]*safetensors.File{}
	d.names = nil
	return errors.Join(errs...)
}
