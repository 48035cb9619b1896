package trainwatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
)

// Kind is what a checkpoint's weights are.
type Kind string

// Checkpoint kinds.
const (
	Full    Kind = "full"    // the whole model's weights
	Adapter Kind = "adapter" // a PEFT LoRA adapter over a base model
)

// Files a checkpoint is made of.
const (
	MarkerFile        = "trainer_state.json" // written last by the Trainer and limbic tune
	ConfigFile        = "config.json"
	WeightsFile       = "model.safetensors"
	IndexFile         = "model.safetensors.index.json"
	AdapterConfigFile = "adapter_config.json"
	AdapterFile       = "adapter_model.safetensors"
)

// FileState is a file of a checkpoint as a scan saw it.
type FileState struct {
	Name    string    `json:"name"` // relative to the checkpoint directory
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// Checkpoint is a complete checkpoint directory.
type Checkpoint struct {
	Step  int         `json:"step"`
	Dir   string      `json:"dir"`
	Kind  Kind        `json:"kind"`
	Files []FileState `json:"files"` // every file it needs, as found complete
}

// Incomplete is a checkpoint directory that is not (yet) complete.
type Incomplete struct {
	Step   int
	Dir    string
	Reason string
}

// ScanOptions adjust what Scan takes as complete.
type ScanOptions struct {
	// NoMarker accepts checkpoints without trainer_state.json (directories
	// made by hand or by a writer that renames complete directories into
	// place but writes no trainer state).
	NoMarker bool
}

var checkpointName = regexp.MustCompile(`^checkpoint-([0-9]{1,12})$`)

// Scan lists the checkpoint-STEP directories of runDir, complete ones in
// increasing step order and, separately, those not complete yet with the
// reason. Other entries (a trainer's temporary directories, logs) are
// ignored.
func Scan(runDir string, o ScanOptions) ([]Checkpoint, []Incomplete, error) {
	ents, err := os.ReadDir(runDir)
	if err != nil {
		return nil, nil, fmt.Errorf("trainwatch: %w", err)
	}
	var done []Checkpoint
	var wait []Incomplete
	for _, e := range ents {
		m := checkpointName.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		step, _ := strconv.Atoi(m[1])
		dir := filepath.Join(runDir, e.Name())
		c, err := Inspect(dir, step, o)
		if err != nil {
			wait = append(wait, Incomplete{Step: step, Dir: dir, Reason: err.Error()})
			continue
		}
		done = append(done, c)
	}
	slices.SortFunc(done, func(a, b Checkpoint) int { return a.Step - b.Step })
	slices.SortFunc(wait, func(a, b Incomplete) int { return a.Step - b.Step })
	return done, wait, nil
}

// Inspect checks that dir holds a complete checkpoint and lists its files;
// the error says what is missing or partial.
func Inspect(dir string, step int, o ScanOptions) (Checkpoint, error) {
	c := Checkpoint{Step: step, Dir: dir}
	add := func(name string) (FileState, error) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return FileState{}, fmt.Errorf("%s: missing", name)
			}
			return FileState{}, err
		}
		if !fi.Mode().IsRegular() {
			return FileState{}, fmt.Errorf("%s: not a regular file", name)
		}
		fs := FileState{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}
		c.Files = append(c.Files, fs)
		return fs, nil
	}
	addJSON := func(name string, v any) error {
		if _, err := add(name); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: partial or not JSON: %v", name, err)
		}
		return nil
	}
	addTensors := func(name string) error {
		fs, err := add(name)
		if err != nil {
			return err
		}
		return checkSafetensors(filepath.Join(dir, name), fs.Size)
	}
	if !o.NoMarker {
		var state map[string]any
		if err := addJSON(MarkerFile, &state); err != nil {
			return c, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, AdapterConfigFile)); err == nil {
		c.Kind = Adapter
		var cfg map[string]any
		if err := addJSON(AdapterConfigFile, &cfg); err != nil {
			return c, err
		}
		return c, addTensors(AdapterFile)
	}
	c.Kind = Full
	var cfg map[string]any
	if err := addJSON(ConfigFile, &cfg); err != nil {
		return c, err
	}
	if _, err := os.Stat(filepath.Join(dir, IndexFile)); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := addJSON(IndexFile, &idx); err != nil {
			return c, err
		}
		if len(idx.WeightMap) == 0 {
			return c, fmt.Errorf("%s: empty weight_map", IndexFile)
		}
		var shards []string
		for _, f := range idx.WeightMap {
			if !slices.Contains(shards, f) {
				shards = append(shards, f)
			}
		}
		slices.Sort(shards)
		for _, f := range shards {
			if f != filepath.Base(f) {
				return c, fmt.Errorf("%s: shard %q is not a file of the checkpoint directory", IndexFile, f)
			}
			if err := addTensors(f); err != nil {
				return c, err
			}
		}
		return c, nil
	}
	if _, err := os.Stat(filepath.Join(dir, WeightsFile)); err != nil {
		if _, binErr := os.Stat(filepath.Join(dir, "pytorch_model.bin")); binErr == nil && !o.NoMarker {
			return c, fmt.Errorf("pytorch_model.bin only: limbic reads safetensors (save with save_safetensors=True)")
		}
	}
	return c, addTensors(WeightsFile)
}

// checkSafetensors checks that a safetensors file of size bytes is whole:
// its header parses and its data section ends exactly at the end of the
// file (a file still being written is shorter).
func checkSafetensors(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var lenb [8]byte
	if _, err := io.ReadFull(f, lenb[:]); err != nil {
		return fmt.Errorf("%s: partial (%d bytes)", filepath.Base(path), size)
	}
	n := uint64(lenb[0]) | uint64(lenb[1])<<8 | uint64(lenb[2])<<16 | uint64(lenb[3])<<24 |
		uint64(lenb[4])<<32 | uint64(lenb[5])<<40 | uint64(lenb[6])<<48 | uint64(lenb[7])<<56
	if n > safetensors.MaxHeaderSize || n > uint64(size-8) {
		return fmt.Errorf("%s: partial: header of %d bytes in a %d-byte file", filepath.Base(path), n, size)
	}
	b := make([]byte, 8+n)
	copy(b, lenb[:])
	if _, err := io.ReadFull(f, b[8:]); err != nil {
		return fmt.Errorf("%s: partial header: %v", filepath.Base(path), err)
	}
	h, err := safetensors.ParseHeader(b, size)
	if err != nil {
		return fmt.Errorf("%s: partial or corrupt: %v", filepath.Base(path), err)
	}
	var end int64
	for _, t := range h.Tensors {
		end = max(end, t.End)
	}
	if h.DataStart+end != size {
		return fmt.Errorf("%s: partial: data ends at byte %d, file has %d", filepath.Base(path), h.DataStart+end, size)
	}
	return nil
}

// Unchanged reports an error when a file of c changed size or time since
// the scan (a writer still at work): a read in between is torn.
func (c *Checkpoint) Unchanged() error {
	for _, f := range c.Files {
		fi, err := os.Stat(filepath.Join(c.Dir, f.Name))
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime) {
			return fmt.Errorf("%s changed while it was read (%d → %d bytes)", f.Name, f.Size, fi.Size())
		}
	}
	return nil
}
