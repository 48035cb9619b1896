package arch

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Family is one architecture family: how to read its Hugging Face config and
// bind its tensors. Families register themselves in init.
type Family struct {
	Name       string   // "llama"
	ModelTypes []string // Hugging Face config model_type values it handles
	// FromHF fills a Config from a decoded config.json.
	FromHF func(hf map[string]any) (Config, error)
	// Bind reads the weights, named as in Hugging Face checkpoints.
	Bind func(cfg *Config, b *binder) *Weights
	// ToHF writes a config.json for a checkpoint in the Hugging Face layout
	// (rotary halves).
	ToHF func(cfg *Config) map[string]any
	// GGUF is how llama.cpp stores the family (nil: no GGUF support).
	GGUF *GGUFSpec
}

var families = map[string]*Family{}

// Register adds a family; it panics on a duplicate (a programmer error).
func Register(f *Family) {
	names := append([]string{f.Name}, f.ModelTypes...)
	slices.Sort(names)
	for _, t := range slices.Compact(names) {
		if _, dup := families[t]; dup {
			panic("arch: duplicate family " + t)
		}
		families[t] = f
	}
}

// Lookup returns the family for a model_type or family name, or an error
// listing what is supported.
func Lookup(modelType string) (*Family, error) {
	if f, ok := families[modelType]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("unsupported model_type %q (supported: %s)", modelType, strings.Join(Supported(), ", "))
}

// Supported lists the model_type values that have a family.
func Supported() []string {
	var out []string
	for t := range families {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// hf config helpers: typed reads from a decoded config.json with clear errors.
type hfConfig struct {
	m   map[string]any
	err error
}

func (h *hfConfig) int(key string) int {
	v, ok := h.m[key]
	if !ok {
		if h.err == nil {
			h.err = fmt.Errorf("config.json: missing field %q", key)
		}
		return 0
	}
	f, ok := v.(float64)
	if !ok || f != float64(int(f)) {
		if h.err == nil {
			h.err = fmt.Errorf("config.json: field %q is %v, want an integer", key, v)
		}
		return 0
	}
	return int(f)
}

func (h *hfConfig) intOr(key string, def int) int {
	if v, ok := h.m[key]; !ok || v == nil {
		return def
	}
	return h.int(key)
}

func (h *hfConfig) float(key string) float64 {
	v, ok := h.m[key]
	if !ok {
		if h.err == nil {
			h.err = fmt.Errorf("config.json: missing field %q", key)
		}
		return 0
	}
	f, ok := v.(float64)
	if !ok {
		if h.err == nil {
			h.err = fmt.Errorf("config.json: field %q is %v, want a number", key, v)
		}
		return 0
	}
	return f
}

func (h *hfConfig) floatOr(key string, def float64) float64 {
	if v, ok := h.m[key]; !ok || v == nil {
		return def
	}
	return h.float(key)
}

func (h *hfConfig) boolOr(key string, def bool) bool {
	v, ok := h.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		if h.err == nil {
			h.err = fmt.Errorf("config.json: field %q is %v, want true or false", key, v)
		}
		return def
	}
	return b
}

func (h *hfConfig) stringOr(key, def string) string {
	v, ok := h.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		if h.err == nil {
			h.err = fmt.Errorf("config.json: field %q is %v, want a string", key, v)
		}
		return def
	}
	return s
}
