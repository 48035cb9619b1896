package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/peft"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// splitAdapter recognises the two ways a model ref names a LoRA adapter:
// a PEFT adapter directory (its base is adapter_config.json's
// base_model_name_or_path) and BASE+ADAPTER_DIR. ok is false for a ref
// that names no adapter (a path that exists as given is never split).
func splitAdapter(ref string) (base, adapterDir string, ok bool, err error) {
	if st, serr := os.Stat(ref); serr == nil {
		if !st.IsDir() || !peft.IsAdapter(ref) || exists(filepath.Join(ref, "config.json")) {
			return "", "", false, nil
		}
		c, err := peft.ReadConfig(ref)
		if err != nil {
			return "", "", false, err
		}
		if c.BaseModel == "" {
			return "", "", false, fmt.Errorf("adapter %s: adapter_config.json names no base_model_name_or_path: give the base as BASE+%s", ref, ref)
		}
		return c.BaseModel, ref, true, nil
	}
	i := strings.LastIndex(ref, "+")
	if i < 0 {
		return "", "", false, nil
	}
	base, adapterDir = ref[:i], ref[i+1:]
	if !peft.IsAdapter(adapterDir) {
		return "", "", false, fmt.Errorf("model %q: %q is not a PEFT adapter directory (no %s)", ref, adapterDir, peft.ConfigFile)
	}
	return base, adapterDir, true, nil
}

// loadAdapter loads base with the adapter in dir merged into its weights.
func loadAdapter(load func(string, LoadOptions) (*Model, error), base, dir string, o LoadOptions) (*Model, error) {
	ad, err := peft.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", dir, err)
	}
	o.adapter = ad
	m, err := load(base, o)
	if err != nil {
		return nil, fmt.Errorf("base model %q of adapter %s: %w", base, dir, err)
	}
	m.files = append(m.WeightFiles(), filepath.Join(dir, peft.WeightsFile))
	m.Adapter = dir
	// An adapter trained on conversations carries the chat template it
	// was trained with.
	if b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil && m.Tok != nil {
		var tc struct {
			ChatTemplate any `json:"chat_template"`
		}
		if json.Unmarshal(b, &tc) == nil {
			if s, ok := tc.ChatTemplate.(string); ok && s != "" {
				m.Tok.SetChatTemplate(s)
			}
		}
	}
	return m, nil
}

// withAdapter returns src with o's adapter merged into the weights it
// adapts, in the layout cfg describes; src itself without an adapter.
func (o LoadOptions) withAdapter(src arch.Source, cfg arch.Config) (arch.Source, error) {
	if o.adapter == nil {
		return src, nil
	}
	for _, name := range o.adapter.Names() {
		if !src.Has(name) {
			return nil, fmt.Errorf("adapter %s adapts %q, which the base model does not have", o.adapter.Dir, name)
		}
	}
	return mergedSource{Source: src, ad: o.adapter, cfg: cfg}, nil
}

// mergedSource is a Source whose adapted weights are W + scale·B·A.
type mergedSource struct {
	arch.Source
	ad  *peft.Adapter
	cfg arch.Config
}

// Tensor returns the named tensor, merged when the adapter adapts it. The
// adapter is in the Hugging Face layout: q and k of a model with
// interleaved rotary rows (llama2.c) are permuted to halves, merged, and
// permuted back.
func (s mergedSource) Tensor(name string) (*tensor.Tensor, error) {
	t, err := s.Source.Tensor(name)
	if err != nil {
		return nil, err
	}
	if _, ok := s.ad.Pairs[name]; !ok {
		return t, nil
	}
	heads := 0
	if s.cfg.RopeInterleaved {
		switch {
		case strings.HasSuffix(name, "self_attn.q_proj.weight"):
			heads = s.cfg.Heads
		case strings.HasSuffix(name, "self_attn.k_proj.weight"):
			heads = s.cfg.KVHeads
		}
	}
	if heads > 0 {
		if t, err = arch.InterleavedToHalf(t, heads); err != nil {
			return nil, err
		}
	}
	named := *t
	named.Name = name
	m, err := s.ad.Merge(&named)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", s.ad.Dir, err)
	}
	if heads > 0 {
		return arch.HalfToInterleaved(m, heads)
	}
	return m, nil
}
