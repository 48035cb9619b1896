// Package checkpoint writes and reads limbic tune's checkpoints:
// OUT/checkpoint-STEP/ directories in the Hugging Face layout, so that a
// checkpoint loads as a model (--model OUT/checkpoint-STEP) and resumes a
// run.
//
// A full fine-tuning checkpoint holds config.json and model.safetensors; a
// LoRA checkpoint holds PEFT's adapter_config.json and
// adapter_model.safetensors instead. Both hold tokenizer.json and
// tokenizer_config.json (with the chat template), trainer_state.json (step,
// epoch, seed, losses, learning rates, validation losses and the tune
// config), optimizer.safetensors (AdamW's moments exp_avg.NAME and
// exp_avg_sq.NAME per parameter, its step in the metadata, and for LoRA
// runs the trained matrices themselves as param.NAME) and, written last,
// checkpoint.done. A checkpoint is built in a temporary sibling directory
// and renamed into place, so a killed write never leaves a directory that
// Latest takes for complete.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/peft"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/engine/train"
	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// File names in a checkpoint directory.
const (
	StateFile     = "trainer_state.json"
	OptimizerFile = "optimizer.safetensors"
	DoneFile      = "checkpoint.done"
	dirPrefix     = "checkpoint-"
)

// Checkpoint is what Write stores.
type Checkpoint struct {
	// ConfigJSON and Tensors are the full weights (config.json and
	// model.safetensors, Hugging Face names and layout). Leave Tensors nil
	// for a LoRA checkpoint.
	ConfigJSON []byte
	Tensors    []*tensor.Tensor
	// Adapter, for a LoRA run, is written instead of the full weights.
	Adapter *AdapterFiles
	// Tokenizer, when set, is written as tokenizer.json and
	// tokenizer_config.json (with its chat template).
	Tokenizer *tokenizer.Tokenizer
	// State and Params are the run's state and trainable parameters (the
	// moments in State.Opt are stored per Params name).
	State  *train.State
	Params []*train.Param
	// StoreParams also stores every Param's values in optimizer.safetensors
	// (for LoRA runs, whose Params the adapter file may hold in another
	// layout).
	StoreParams bool
	// TuneConfig is recorded in trainer_state.json as "tune_config".
	TuneConfig any
}

// AdapterFiles is a PEFT adapter: its config and lora_A/lora_B tensors
// under PEFT's names.
type AdapterFiles struct {
	Config  peft.Config
	Tensors []*tensor.Tensor
}

// stateJSON is trainer_state.json.
type stateJSON struct {
	*train.State
	LearningRate float64         `json:"learning_rate"` // of the last step
	RNG          rngState        `json:"rng_state"`
	TuneConfig   json.RawMessage `json:"tune_config,omitempty"`
}

// rngState records the randomness: every draw is derived from (seed,
// step, micro), so there is no generator state beyond the step.
type rngState struct {
	Seed   uint64 `json:"seed"`
	Step   int    `json:"next_step"`
	Scheme string `json:"scheme"`
}

// Dir returns OUT/checkpoint-STEP.
func Dir(out string, step int) string { return filepath.Join(out, dirPrefix+strconv.Itoa(step)) }

// Write writes c as OUT/checkpoint-STEP (STEP from c.State) and returns the
// directory. An existing complete checkpoint there is an error; an
// incomplete one is replaced.
func Write(out string, c Checkpoint) (dir string, err error) {
	if c.State == nil || c.State.Opt == nil {
		return "", errors.New("checkpoint: no state to write")
	}
	if (c.Tensors == nil) == (c.Adapter == nil) {
		return "", errors.New("checkpoint: give either full weights or an adapter")
	}
	dir = Dir(out, c.State.Step)
	if Complete(dir) {
		return "", fmt.Errorf("checkpoint: %s already exists", dir)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	tmp, err := os.MkdirTemp(out, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := fill(tmp, c); err != nil {
		return "", fmt.Errorf("checkpoint: write %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	atomicfile.SyncDir(tmp)
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return "", fmt.Errorf("checkpoint: move into place: %w", err)
	}
	return dir, nil
}

func writeFile(path string, b []byte) error {
	return atomicfile.CreateSynced(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func writeTensors(path string, ts []*tensor.Tensor, meta map[string]string) error {
	return atomicfile.CreateSynced(path, 0o644, func(w io.Writer) error {
		return safetensors.Encode(w, ts, meta)
	})
}

func fill(tmp string, c Checkpoint) error {
	if c.Adapter != nil {
		cj, err := c.Adapter.Config.Encode()
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(tmp, peft.ConfigFile), cj); err != nil {
			return err
		}
		if err := writeTensors(filepath.Join(tmp, peft.WeightsFile), c.Adapter.Tensors, map[string]string{"format": "pt"}); err != nil {
			return err
		}
	} else {
		var probe map[string]any
		if err := json.Unmarshal(c.ConfigJSON, &probe); err != nil || probe == nil {
			return fmt.Errorf("config.json is not a JSON object: %v", err)
		}
		if err := writeFile(filepath.Join(tmp, "config.json"), c.ConfigJSON); err != nil {
			return err
		}
		if err := writeTensors(filepath.Join(tmp, "model.safetensors"), c.Tensors, map[string]string{"format": "pt"}); err != nil {
			return err
		}
	}
	if c.Tokenizer != nil {
		tj, err := c.Tokenizer.MarshalHFJSON()
		if err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
		tcj, err := c.Tokenizer.MarshalHFConfig()
		if err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
		if err := writeFile(filepath.Join(tmp, "tokenizer.json"), tj); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(tmp, "tokenizer_config.json"), tcj); err != nil {
			return err
		}
	}
	opt, err := optimizerTensors(c)
	if err != nil {
		return err
	}
	if err := writeTensors(filepath.Join(tmp, OptimizerFile), opt, map[string]string{"step": strconv.Itoa(c.State.Opt.T)}); err != nil {
		return err
	}
	sj := stateJSON{State: c.State, RNG: rngState{Seed: c.State.Seed, Step: c.State.Step, Scheme: "splitmix64(seed, step, micro)"}}
	if n := len(c.State.Log); n > 0 {
		sj.LearningRate = c.State.Log[n-1].LR
	}
	if c.TuneConfig != nil {
		if sj.TuneConfig, err = json.Marshal(c.TuneConfig); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(sj, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(tmp, StateFile), append(b, '\n')); err != nil {
		return err
	}
	return writeFile(filepath.Join(tmp, DoneFile), []byte(strconv.Itoa(c.State.Step)+"\n"))
}

func optimizerTensors(c Checkpoint) ([]*tensor.Tensor, error) {
	o := c.State.Opt
	if len(o.M) != len(c.Params) || len(o.V) != len(c.Params) {
		return nil, fmt.Errorf("optimizer state has %d moments for %d params", len(o.M), len(c.Params))
	}
	var ts []*tensor.Tensor
	for i, p := range c.Params {
		ts = append(ts, tensor.FromF32("exp_avg."+p.Name, p.Shape, o.M[i]), tensor.FromF32("exp_avg_sq."+p.Name, p.Shape, o.V[i]))
		if c.StoreParams {
			ts = append(ts, tensor.FromF32("param."+p.Name, p.Shape, p.Data))
		}
	}
	return ts, nil
}

// Complete reports whether dir is a checkpoint whose write finished.
func Complete(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, DoneFile))
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && filepath.Base(dir) == dirPrefix+strconv.Itoa(n)
}

// Latest returns the complete checkpoint with the highest step under out,
// or "" when there is none.
func Latest(out string) (string, error) {
	ents, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	best, bestStep := "", -1
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= bestStep {
			continue
		}
		if d := filepath.Join(out, e.Name()); Complete(d) {
			best, bestStep = d, n
		}
	}
	return best, nil
}

// Loaded is a checkpoint read back.
type Loaded struct {
	Dir        string
	State      *train.State // with Opt's T; M and V are bound by Restore
	TuneConfig json.RawMessage
	// Adapter is set for a LoRA checkpoint.
	Adapter *peft.Config
	opt     *safetensors.File
}

// Load reads the checkpoint in dir (which must be complete).
func Load(dir string) (*Loaded, error) {
	if !Complete(dir) {
		return nil, fmt.Errorf("checkpoint: %s is not a complete checkpoint (no %s)", dir, DoneFile)
	}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	sj := stateJSON{State: &train.State{}}
	if err := json.Unmarshal(b, &sj); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", filepath.Join(dir, StateFile), err)
	}
	f, err := safetensors.Open(filepath.Join(dir, OptimizerFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	t, err := strconv.Atoi(f.Header().Metadata["step"])
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint: %s: no optimizer step in the metadata", filepath.Join(dir, OptimizerFile))
	}
	sj.State.Opt = &train.AdamW{T: t}
	l := &Loaded{Dir: dir, State: sj.State, TuneConfig: sj.TuneConfig, opt: f}
	if peft.IsAdapter(dir) {
		c, err := peft.ReadConfig(dir)
		if err != nil {
			f.Close()
			return nil, err
		}
		l.Adapter = &c
	}
	return l, nil
}

// Close releases the optimizer file.
func (l *Loaded) Close() error { return l.opt.Close() }

// Restore binds the stored moments to ps (by name; every Param must have
// them, with its shape) in l.State.Opt, and copies stored Param values
// (param.NAME, present for LoRA runs) into ps.
func (l *Loaded) Restore(ps []*train.Param) error {
	o := l.State.Opt
	o.M, o.V = make([][]float32, len(ps)), make([][]float32, len(ps))
	get := func(name string, p *train.Param) ([]float32, error) {
		t, err := l.opt.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %s: %w", l.Dir, err)
		}
		if tensor.Numel(t.Shape) != len(p.Data) {
			return nil, fmt.Errorf("checkpoint: %s: %s has shape %v, the parameter %v", l.Dir, name, t.Shape, p.Shape)
		}
		v, err := t.F32()
		return slices.Clone(v), err // F32 may alias the read-only mapping
	}
	var err error
	for i, p := range ps {
		if o.M[i], err = get("exp_avg."+p.Name, p); err != nil {
			return err
		}
		if o.V[i], err = get("exp_avg_sq."+p.Name, p); err != nil {
			return err
		}
		if l.opt.Has("param." + p.Name) {
			v, err := get("param."+p.Name, p)
			if err != nil {
				return err
			}
			copy(p.Data, v)
		}
	}
	return nil
}

// Merge returns base (full weights, Hugging Face names and layout) with the
// adapter merged into the weights it adapts: W + (alpha/r)·B·A, in f32. It
// is an error when the adapter names a weight base does not have.
func Merge(base []*tensor.Tensor, a AdapterFiles) ([]*tensor.Tensor, error) {
	ad, err := peft.FromTensors(a.Config, a.Tensors)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: merge: %w", err)
	}
	out := make([]*tensor.Tensor, len(base))
	done := 0
	for i, t := range base {
		if out[i], err = ad.Merge(t); err != nil {
			return nil, err
		}
		if _, ok := ad.Pairs[t.Name]; ok {
			done++
		}
	}
	if done != len(ad.Pairs) {
		for _, n := range ad.Names() {
			found := false
			for _, t := range base {
				found = found || t.Name == n
			}
			if !found {
				return nil, fmt.Errorf("checkpoint: merge: the adapter adapts %q, which the model does not have", n)
			}
		}
	}
	return out, nil
}

// ConfigJSON returns config.json for f32 weights of cfg (which must
// describe the Hugging Face layout, as HFTensors' config does), with tok's
// BOS and EOS ids when it is given.
func ConfigJSON(cfg arch.Config, tok *tokenizer.Tokenizer) ([]byte, error) {
	fam, err := arch.Lookup(cfg.Arch)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if fam.ToHF == nil {
		return nil, fmt.Errorf("checkpoint: writing %s configs is not supported", cfg.Arch)
	}
	hc := fam.ToHF(&cfg)
	hc["torch_dtype"] = "float32"
	if tok != nil {
		if bos := tok.BOS(); bos >= 0 {
			hc["bos_token_id"] = bos
		}
		if eos := tok.EOS(); eos >= 0 {
			hc["eos_token_id"] = eos
		}
	}
	b, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
