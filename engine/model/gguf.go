package model

import (
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/tokenizer"
)

// loadGGUF loads a GGUF file written in llama.cpp's conventions: the
// family from general.architecture, the config from its metadata, the
// tensors renamed to Hugging Face names (their stored layout kept: llama's
// permuted q/k rows run as interleaved rope pairs, Gemma's 1+w norms as a
// plain RMSNorm, GPT-2's transposed Conv1D weights as linear weights), and
// the tokenizer and chat template from tokenizer.*.
func loadGGUF(path string, o LoadOptions) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Model, error) { f.Close(); return nil, fmt.Errorf("%s: %w", path, err) }
	name := f.Architecture()
	if name == "" {
		return fail(fmt.Errorf("gguf: no %s metadata", gguf.KeyArchitecture))
	}
	fam, err := arch.LookupGGUF(name)
	if err != nil {
		return fail(err)
	}
	src, err := newGGUFSource(f, fam.GGUF)
	if err != nil {
		return fail(err)
	}
	cfg, err := fam.ConfigFromGGUF(f, src)
	if err != nil {
		return fail(err)
	}
	o = o.fit(fileSizes(path))
	msrc, err := o.withAdapter(src, cfg)
	if err != nil {
		return fail(err)
	}
	am, err := arch.New(cfg, msrc, o.archOptions(f.EvictRange))
	if err != nil {
		return fail(err)
	}
	tok, err := ggufTokenizer(f)
	if err != nil {
		am.Close()
		return fail(err)
	}
	o.evict(f.Evict)
	return &Model{Transformer: am, Tok: tok, Path: path, Format: FormatGGUF, closers: []func() error{am.Close, f.Close}, src: msrc}, nil
}

// ggufSource offers a GGUF file's tensors under Hugging Face names.
type ggufSource struct {
	f      *gguf.File
	byName map[string]string // Hugging Face name → GGUF name
}

// newGGUFSource maps every tensor of f through the family's name table. A
// tensor the table does not know, or of a type limbic cannot load, is an
// error: silently dropping one (a bias, say) would change the model.
func newGGUFSource(f *gguf.File, spec *arch.GGUFSpec) (*ggufSource, error) {
	s := &ggufSource{f: f, byName: map[string]string{}}
	var unknown []string
	for _, ti := range f.TensorInfos() {
		if _, ok := ti.Type.DType(); !ok {
			return nil, fmt.Errorf("gguf: tensor %q has quantization type %s, which limbic cannot load (supported: %s)", ti.Name, ti.Type, gguf.SupportedTypes)
		}
		hf, ok := spec.HFName(ti.Name)
		if !ok {
			unknown = append(unknown, ti.Name)
			continue
		}
		s.byName[hf] = ti.Name
	}
	if len(unknown) > 0 {
		if len(unknown) > 5 {
			unknown = append(unknown[:5], fmt.Sprintf("and %d more", len(unknown)-5))
		}
		return nil, fmt.Errorf("gguf: tensors that a %s model does not have: %s", spec.Arch, strings.Join(unknown, ", "))
	}
	return s, nil
}

func (s *ggufSource) Has(name string) bool { _, ok := s.byName[name]; return ok }

func (s *ggufSource) Tensor(name string) (*tensor.Tensor, error) {
	g, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor for %q", name)
	}
	t, err := s.f.Tensor(g)
	if err != nil {
		return nil, err
	}
	t.Name = g // errors name the tensor as the file does
	return t, nil
}

// ggufTokenizer builds the tokenizer from tokenizer.ggml.* and
// tokenizer.chat_template; nil when the file has no vocabulary.
func ggufTokenizer(f *gguf.File) (*tokenizer.Tokenizer, error) {
	v, err := ReadGGUFVocab(f)
	if err != nil || v == nil {
		return nil, err
	}
	return tokenizer.FromGGUF(*v)
}

// ReadGGUFVocab reads a GGUF file's tokenizer metadata; nil when it has
// none (no tokenizer.ggml.model).
func ReadGGUFVocab(f *gguf.File) (*tokenizer.GGUFVocab, error) {
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	model, ok, err := f.String("tokenizer.ggml.model")
	if err != nil || !ok {
		return nil, err
	}
	v := &tokenizer.GGUFVocab{Model: model}
	v.Pre, _, err = f.String("tokenizer.ggml.pre")
	keep(err)
	v.Tokens, _, err = f.Strings("tokenizer.ggml.tokens")
	keep(err)
	v.Merges, _, err = f.Strings("tokenizer.ggml.merges")
	keep(err)
	v.ChatTemplate, _, err = f.String("tokenizer.chat_template")
	keep(err)
	if scores, ok, err := f.Floats("tokenizer.ggml.scores"); ok {
		v.Scores = make([]float32, len(scores))
		for i, x := range scores {
			v.Scores[i] = float32(x)
		}
	} else {
		keep(err)
	}
	if types, ok, err := f.Ints("tokenizer.ggml.token_type"); ok {
		v.TokenTypes = make([]int32, len(types))
		for i, x := range types {
			v.TokenTypes[i] = int32(x)
		}
	} else {
		keep(err)
	}
	id := func(key string) *int {
		x, ok, err := f.Int(key)
		keep(err)
		if !ok || err != nil {
			return nil
		}
		n := int(x)
		return &n
	}
	flag := func(key string) *bool {
		x, ok, err := f.Bool(key)
		keep(err)
		if !ok || err != nil {
			return nil
		}
		return &x
	}
	v.BOSTokenID = id("tokenizer.ggml.bos_token_id")
	v.EOSTokenID = id("tokenizer.ggml.eos_token_id")
	v.EOTTokenID = id("tokenizer.ggml.eot_token_id")
	v.UnknownID = id("tokenizer.ggml.unknown_token_id")
	v.PaddingID = id("tokenizer.ggml.padding_token_id")
	v.AddBOSToken = flag("tokenizer.ggml.add_bos_token")
	v.AddEOSToken = flag("tokenizer.ggml.add_eos_token")
	v.AddSpacePrfx = flag("tokenizer.ggml.add_space_prefix")
	return v, first
}
