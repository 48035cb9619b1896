// Package peft reads and writes LoRA adapters in the layout of Hugging
// Face's PEFT library: a directory with adapter_config.json (peft_type
// "LORA", r, lora_alpha, target_modules, base_model_name_or_path, …) and
// adapter_model.safetensors, whose tensors are named
//
//	base_model.model.<module>.lora_A.weight   [r, in]
//	base_model.model.<module>.lora_B.weight   [out, r]
//
// for each adapted linear module <module>
// ("model.layers.0.self_attn.q_proj"). Merging adds
// (lora_alpha/r)·B·A — (lora_alpha/√r)·B·A with use_rslora — to the
// module's weight [out, in], in the Hugging Face layout.
package peft

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// File names in an adapter directory.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
	prefix      = "base_model.model."
)

// Config is adapter_config.json (the fields limbic reads and writes).
type Config struct {
	PeftType      string   `json:"peft_type"` // "LORA"
	TaskType      string   `json:"task_type"` // "CAUSAL_LM"
	BaseModel     string   `json:"base_model_name_or_path"`
	R             int      `json:"r"`
	LoraAlpha     float64  `json:"lora_alpha"`
	LoraDropout   float64  `json:"lora_dropout"`
	TargetModules []string `json:"target_modules"`
	Bias          string   `json:"bias"` // "none"
	FanInFanOut   bool     `json:"fan_in_fan_out"`
	UseRSLoRA     bool     `json:"use_rslora"`
	InferenceMode bool     `json:"inference_mode"`
}

// NewConfig returns a LoRA config as limbic tune writes it.
func NewConfig(base string, r int, alpha, dropout float64, targets []string) Config {
	return Config{PeftType: "LORA", TaskType: "CAUSAL_LM", BaseModel: base, R: r, LoraAlpha: alpha,
		LoraDropout: dropout, TargetModules: slices.Clone(targets), Bias: "none", InferenceMode: true}
}

// Scale is the factor of B·A in the merged weight.
func (c Config) Scale() float64 {
	if c.UseRSLoRA {
		return c.LoraAlpha / math.Sqrt(float64(c.R))
	}
	return c.LoraAlpha / float64(c.R)
}

// Check reports whether limbic can merge an adapter with this config.
func (c Config) Check() error {
	switch {
	case c.PeftType != "LORA":
		return fmt.Errorf("peft_type %q: only LORA adapters are supported", c.PeftType)
	case c.R <= 0:
		return fmt.Errorf("r = %d, want ≥ 1", c.R)
	case math.IsNaN(c.LoraAlpha) || math.IsInf(c.LoraAlpha, 0):
		return fmt.Errorf("lora_alpha = %v", c.LoraAlpha)
	case c.Bias != "" && c.Bias != "none":
		return fmt.Errorf("bias %q: only adapters without bias terms are supported", c.Bias)
	case c.FanInFanOut:
		return errors.New("fan_in_fan_out adapters (GPT-2 Conv1D) are not supported")
	}
	return nil
}

// IsAdapter reports whether dir holds an adapter_config.json.
func IsAdapter(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ConfigFile))
	return err == nil
}

// ReadConfig reads dir's adapter_config.json.
func ReadConfig(dir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return c, fmt.Errorf("peft: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("peft: %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return c, nil
}

// Adapter is a loaded LoRA adapter.
type Adapter struct {
	Dir    string
	Config Config
	// Pairs maps each adapted module's weight name
	// ("model.layers.0.self_attn.q_proj.weight") to its A [r, in] and
	// B [out, r] in f32.
	Pairs map[string]Pair
}

// Pair is one module's LoRA matrices.
type Pair struct {
	A, B *tensor.Tensor
}

// Open reads the adapter in dir.
func Open(dir string) (*Adapter, error) {
	c, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("peft: %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("peft: %w", err)
	}
	defer f.Close()
	ts, err := f.Tensors()
	if err != nil {
		return nil, fmt.Errorf("peft: %s: %w", path, err)
	}
	a, err := FromTensors(c, ts)
	if err != nil {
		return nil, fmt.Errorf("peft: %s: %w", path, err)
	}
	a.Dir = dir
	return a, nil
}

// FromTensors pairs PEFT-named tensors into an Adapter, checking names and
// shapes against c.
func FromTensors(c Config, ts []*tensor.Tensor) (*Adapter, error) {
	a := &Adapter{Config: c, Pairs: map[string]Pair{}}
	for _, t := range ts {
		rest, ok := strings.CutPrefix(t.Name, prefix)
		if !ok {
			return nil, fmt.Errorf("tensor %q: not a PEFT LoRA name (want %s<module>.lora_A.weight)", t.Name, prefix)
		}
		mod, isA := strings.CutSuffix(rest, ".lora_A.weight")
		if !isA {
			var isB bool
			if mod, isB = strings.CutSuffix(rest, ".lora_B.weight"); !isB {
				return nil, fmt.Errorf("tensor %q: not a lora_A or lora_B weight", t.Name)
			}
		}
		v, err := t.F32()
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if len(t.Shape) != 2 {
			return nil, fmt.Errorf("tensor %q: shape %v, want a matrix", t.Name, t.Shape)
		}
		f := tensor.FromF32(t.Name, t.Shape, v)
		p := a.Pairs[mod+".weight"]
		if isA {
			p.A = f
		} else {
			p.B = f
		}
		a.Pairs[mod+".weight"] = p
	}
	if len(a.Pairs) == 0 {
		return nil, errors.New("no LoRA tensors")
	}
	for name, p := range a.Pairs {
		switch {
		case p.A == nil || p.B == nil:
			return nil, fmt.Errorf("module %q: lora_A or lora_B missing", strings.TrimSuffix(name, ".weight"))
		case p.A.Shape[0] != c.R || p.B.Shape[1] != c.R:
			return nil, fmt.Errorf("module %q: lora_A %v and lora_B %v do not have rank r = %d", strings.TrimSuffix(name, ".weight"), p.A.Shape, p.B.Shape, c.R)
		}
	}
	return a, nil
}

// Names returns the adapted weights' names, sorted.
func (a *Adapter) Names() []string {
	out := make([]string, 0, len(a.Pairs))
	for n := range a.Pairs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Delta returns scale·B·A [out, in] in float64 for the weight name.
func (a *Adapter) Delta(name string) (out, in int, d []float64, ok bool) {
	p, ok := a.Pairs[name]
	if !ok {
		return 0, 0, nil, false
	}
	A, _ := p.A.F32()
	B, _ := p.B.F32()
	r := a.Config.R
	out, in = p.B.Shape[0], p.A.Shape[1]
	s := a.Config.Scale()
	d = make([]float64, out*in)
	for i := range out {
		row := d[i*in : (i+1)*in]
		for k := range r {
			b := s * float64(B[i*r+k])
			for j, x := range A[k*in : (k+1)*in] {
				row[j] += b * float64(x)
			}
		}
	}
	return out, in, d, true
}

// Merge returns w (the base weight of a module a adapts, HF layout) plus
// the adapter's delta, in f32; w itself when a does not adapt it.
func (a *Adapter) Merge(w *tensor.Tensor) (*tensor.Tensor, error) {
	out, in, d, ok := a.Delta(w.Name)
	if !ok {
		return w, nil
	}
	if len(w.Shape) != 2 || w.Shape[0] != out || w.Shape[1] != in {
		return nil, fmt.Errorf("peft: %s: the adapter's B·A is [%d %d], the base weight %v", w.Name, out, in, w.Shape)
	}
	v, err := w.F32()
	if err != nil {
		return nil, fmt.Errorf("peft: %s: %w", w.Name, err)
	}
	m := make([]float32, len(v))
	for i, x := range v {
		m[i] = float32(float64(x) + d[i])
	}
	return tensor.FromF32(w.Name, w.Shape, m), nil
}

// TensorName is PEFT's name of the A ("lora_A") or B ("lora_B") matrix of
// the module whose weight is named weight.
func TensorName(weight, which string) string {
	return prefix + strings.TrimSuffix(weight, ".weight") + "." + which + ".weight"
}

// Encode returns adapter_config.json for c.
func (c Config) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
