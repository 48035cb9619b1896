package trainwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/tokenizer"
)

// Loaded is a checkpoint's model, ready to evaluate.
type Loaded struct {
	Model *arch.Transformer
	Tok   *tokenizer.Tokenizer // nil: use the base model's
	Close func() error         // nil: nothing to release
}

// LoadFunc loads a complete checkpoint. An error is taken as a torn read
// and retried on a later pass.
type LoadFunc func(ctx context.Context, c Checkpoint) (*Loaded, error)

// Loader loads full checkpoints with model.Load and LoRA adapters over
// Base.
type Loader struct {
	Options model.LoadOptions
	// Base is the base model: the model of adapter checkpoints, and the
	// tokenizer of checkpoints without one. Nil: adapters are an error.
	Base *model.Model
}

// Load loads c. The weights are copied into memory (unless
// Options.Mmap), so a checkpoint rewritten after Load returns cannot
// change the evaluation.
func (l *Loader) Load(ctx context.Context, c Checkpoint) (*Loaded, error) {
	if c.Kind == Adapter {
		if l.Base == nil {
			return nil, fmt.Errorf("%s is a LoRA adapter: give the base model (--base)", c.Dir)
		}
		t, err := MergeLoRA(c.Dir, l.Base, l.Options.DType)
		if err != nil {
			return nil, err
		}
		return &Loaded{Model: t, Tok: l.Base.Tok, Close: t.Close}, nil
	}
	m, err := model.Load(ctx, c.Dir, l.Options)
	if err != nil {
		return nil, err
	}
	tok := m.Tok
	if tok == nil && l.Base != nil {
		tok = l.Base.Tok
	}
	return &Loaded{Model: m.Transformer, Tok: tok, Close: m.Close}, nil
}

// AdapterBase returns the base model named by an adapter checkpoint's
// adapter_config.json (base_model_name_or_path), "" when it names none.
func AdapterBase(dir string) (string, error) {
	cfg, err := readAdapterConfig(dir)
	if err != nil {
		return "", err
	}
	return cfg.Base, nil
}

type adapterConfig struct {
	PeftType      string   `json:"peft_type"`
	Base          string   `json:"base_model_name_or_path"`
	R             int      `json:"r"`
	Alpha         float64  `json:"lora_alpha"`
	RSLoRA        bool     `json:"use_rslora"`
	DoRA          bool     `json:"use_dora"`
	FanInFanOut   bool     `json:"fan_in_fan_out"`
	ModulesToSave []string `json:"modules_to_save"`
}

func readAdapterConfig(dir string) (adapterConfig, error) {
	var cfg adapterConfig
	b, err := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", AdapterConfigFile, err)
	}
	return cfg, nil
}

// MergeLoRA builds the model of a PEFT LoRA adapter directory over base:
// every target weight W (Hugging Face name and layout, [out, in]) becomes
// W + s·B·A with A = lora_A [r, in], B = lora_B [out, r] and s =
// lora_alpha/r (lora_alpha/√r with use_rslora). DoRA, fan_in_fan_out and
// modules_to_save are not supported and are errors, as is an adapter
// tensor whose target the base model lacks.
func MergeLoRA(dir string, base *model.Model, dt tensor.DType) (*arch.Transformer, error) {
	cfg, err := readAdapterConfig(dir)
	if err != nil {
		return nil, err
	}
	fail := func(format string, a ...any) (*arch.Transformer, error) {
		return nil, fmt.Errorf("%s: %s", dir, fmt.Sprintf(format, a...))
	}
	switch {
	case cfg.PeftType != "" && cfg.PeftType != "LORA":
		return fail("peft_type %q: only LORA adapters are supported", cfg.PeftType)
	case cfg.R <= 0:
		return fail("%s: r = %d, want a positive rank", AdapterConfigFile, cfg.R)
	case cfg.DoRA:
		return fail("use_dora: DoRA adapters are not supported")
	case cfg.FanInFanOut:
		return fail("fan_in_fan_out: Conv1D adapters are not supported")
	case len(cfg.ModulesToSave) > 0:
		return fail("modules_to_save %v: adapters with fully trained modules are not supported", cfg.ModulesToSave)
	}
	alpha := cfg.Alpha
	if alpha == 0 {
		alpha = float64(cfg.R)
	}
	scale := alpha / float64(cfg.R)
	if cfg.RSLoRA {
		scale = alpha / math.Sqrt(float64(cfg.R))
	}
	acfg, ts, err := base.HFTensors()
	if err != nil {
		return nil, err
	}
	src := make(arch.MapSource, len(ts))
	for _, t := range ts {
		src[t.Name] = t
	}
	f, err := safetensors.Open(filepath.Join(dir, AdapterFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pairs := map[string][2]*tensor.Tensor{}
	for _, name := range f.Names() {
		rest, ok := strings.CutPrefix(name, "base_model.model.")
		if !ok {
			return fail("%s: tensor %q: want base_model.model.<module>.lora_A/lora_B.weight", AdapterFile, name)
		}
		var mod string
		var side int
		switch {
		case strings.HasSuffix(rest, ".lora_A.weight"):
			mod = strings.TrimSuffix(rest, ".lora_A.weight")
		case strings.HasSuffix(rest, ".lora_B.weight"):
			mod, side = strings.TrimSuffix(rest, ".lora_B.weight"), 1
		default:
			return fail("%s: tensor %q is not a LoRA A or B matrix (unsupported adapter)", AdapterFile, name)
		}
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		p := pairs[mod]
		p[side] = t
		pairs[mod] = p
	}
	if len(pairs) == 0 {
		return fail("%s: no LoRA tensors", AdapterFile)
	}
	for mod, p := range pairs {
		target := mod + ".weight"
		if p[0] == nil || p[1] == nil {
			return fail("%s: %s has only one of lora_A and lora_B", AdapterFile, mod)
		}
		w, ok := src[target]
		if !ok {
			return fail("%s: the base model has no tensor %q", AdapterFile, target)
		}
		merged, err := mergeOne(w, p[0], p[1], scale)
		if err != nil {
			return fail("%s: %s: %v", AdapterFile, mod, err)
		}
		src[target] = merged
	}
	return arch.New(acfg, src, arch.Options{DType: dt, Resident: true})
}

// mergeOne returns W + s·B·A as F32.
func mergeOne(w, a, b *tensor.Tensor, s float64) (*tensor.Tensor, error) {
	if len(w.Shape) != 2 || len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, fmt.Errorf("want matrices, have W %v, A %v, B %v", w.Shape, a.Shape, b.Shape)
	}
	out, in, r := w.Shape[0], w.Shape[1], a.Shape[0]
	if a.Shape[1] != in || b.Shape[0] != out || b.Shape[1] != r {
		return nil, fmt.Errorf("shapes W %v, A %v, B %v do not fit (want A [r %d], B [%d r])", w.Shape, a.Shape, b.Shape, in, out)
	}
	wv, err := w.F32()
	if err != nil {
		return nil, err
	}
	av, err := a.F32()
	if err != nil {
		return nil, err
	}
	bv, err := b.F32()
	if err != nil {
		return nil, err
	}
	res := make([]float32, len(wv))
	copy(res, wv)
	for i := range out {
		row := res[i*in : (i+1)*in]
		for k := range r {
			c := float32(s) * bv[i*r+k]
			if c == 0 {
				continue
			}
			ar := av[k*in : (k+1)*in]
			for j := range row {
				row[j] += c * ar[j]
			}
		}
	}
	return tensor.FromF32(w.Name, w.Shape, res), nil
}
