package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/hfdir"
	"github.com/limbic-dev/limbic/engine/format/llama2c"
	"github.com/limbic-dev/limbic/engine/format/mmap"
	"github.com/limbic-dev/limbic/engine/format/peft"
	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/tokenizer"
)

// Default is the name of the embedded default model.
const Default = "stories15m"

// Formats a model can come from.
const (
	FormatLlama2C = "llama2c"
	FormatHF      = "hf"
	FormatGGUF    = "gguf"
)

// Model is a loaded model: the engine (the embedded Transformer), its
// tokenizer and where it came from.
type Model struct {
	*arch.Transformer
	// Tok is the tokenizer, with the chat template; nil for a checkpoint
	// without one (feed token ids; Tokenizer says why).
	Tok    *tokenizer.Tokenizer
	Name   string // what the user asked for ("stories15m", a path)
	Path   string // the resolved file or directory
	Format string // FormatLlama2C, FormatHF or FormatGGUF
	// Adapter is the PEFT LoRA adapter directory merged into the weights
	// at load, or "".
	Adapter string

	closers []func() error
	src     arch.Source // the checkpoint's tensors (Hugging Face names)
	files   []string    // weight files (nil: Path)

	hashOnce sync.Once
	hash     string
	hashErr  error
}

// Tokenizer returns the model's tokenizer, or an error saying the
// checkpoint has none (token ids can still be fed to the engine).
func (m *Model) Tokenizer() (*tokenizer.Tokenizer, error) {
	if m.Tok == nil {
		return nil, fmt.Errorf("model %s has no tokenizer (no tokenizer.json or GGUF vocabulary): it takes token ids only", m.Path)
	}
	return m.Tok, nil
}

// StopIDs returns the ids that end generation: the tokenizer's
// end-of-generation ids, and for llama2.c models also BOS, which separates
// stories in their training data. Without a tokenizer there are none.
func (m *Model) StopIDs() []int {
	if m.Tok == nil {
		return nil
	}
	ids := append([]int(nil), m.Tok.EOG()...)
	if m.Format == FormatLlama2C && m.Tok.BOS() >= 0 {
		ids = append(ids, m.Tok.BOS())
	}
	return ids
}

// LoadOptions adjust loading.
type LoadOptions struct {
	DType  tensor.DType // convert weights (Invalid: keep the checkpoint's dtype)
	MaxSeq int          // context length (0: the model's; larger extrapolates, see arch.Options)
	// Mmap runs the weights straight from the memory-mapped checkpoint
	// instead of copying them into memory of the model's own
	// (arch.Options.Resident, the default). Mapping starts faster and shares
	// the page cache between processes; the copy decodes faster (huge
	// pages: see arch.Options.Resident).
	// Load maps anyway when the copy would take more than three quarters of
	// the memory available (MemAvailable on Linux).
	Mmap     bool
	Progress func(stage string, done, total int64)

	adapter *peft.Adapter // merged into the weights at load (see splitAdapter)
}

// Close releases the model's weight memory and memory-mapped files.
func (m *Model) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	m.closers = nil
	return first
}

// Load resolves ref and loads the model:
//
//	""/"stories15m"         the embedded default model (fetched on first use)
//	ORG/NAME[@REV]          a Hugging Face repository fetched with hub.Pull
//	DIR with config.json    a Hugging Face model directory
//	FILE.gguf               a GGUF file
//	FILE.bin, or a DIR with model.bin   a llama2.c checkpoint (tokenizer.bin beside it)
//	ollama:[HOST/][NAMESPACE/]NAME[:TAG]  a model in ollama's store (see loadOllama)
//	a recipe's name (stories15m-chat)   built on first use (see RegisterRecipe)
//	ADAPTER_DIR             a PEFT LoRA adapter, merged into its base_model_name_or_path
//	BASE+ADAPTER_DIR        BASE (any of the above) with a PEFT LoRA adapter merged
func Load(ctx context.Context, ref string, o LoadOptions) (*Model, error) {
	name := ref
	if base, dir, ok, err := splitAdapter(ref); err != nil {
		return nil, err
	} else if ok && o.adapter == nil {
		m, err := loadAdapter(func(b string, o LoadOptions) (*Model, error) { return Load(ctx, b, o) }, base, dir, o)
		if err != nil {
			return nil, err
		}
		m.Name = name
		return m, nil
	}
	if rest, ok := strings.CutPrefix(ref, OllamaPrefix); ok {
		m, err := loadOllama(rest, o)
		if err != nil {
			return nil, err
		}
		m.Name = name
		return m, nil
	}
	if ref == "" || strings.EqualFold(ref, Default) {
		name = Default
		dir, err := hub.EnsureEmbedded(ctx, hub.EmbeddedOptions{Progress: o.Progress})
		if err != nil {
			return nil, err
		}
		ref = dir
	}
	if dir, ok, err := resolveRecipe(ctx, ref); ok {
		if err != nil {
			return nil, err
		}
		name, ref = strings.ToLower(ref), dir
	}
	st, err := os.Stat(ref)
	if err != nil {
		// ORG/NAME[@REV]: a Hugging Face repository pulled before.
		if _, perr := hub.ParseRepo(ref); perr == nil && !strings.HasPrefix(ref, ".") && !filepath.IsAbs(ref) {
			dir, lerr := hub.Lookup(ref, "")
			if lerr != nil {
				return nil, fmt.Errorf("model %q: no such file, and not pulled from the Hugging Face hub yet (run `limbic pull %s`): %w", ref, ref, lerr)
			}
			ref = dir
			st, err = os.Stat(ref)
		}
		if err != nil {
			return nil, fmt.Errorf("model %q: not the embedded model %q, and %w", name, Default, err)
		}
	}
	var m *Model
	switch {
	case st.IsDir() && exists(filepath.Join(ref, "config.json")):
		m, err = loadHF(ref, o)
	case st.IsDir() && exists(filepath.Join(ref, "model.bin")):
		m, err = loadLlama2C(filepath.Join(ref, "model.bin"), filepath.Join(ref, "tokenizer.bin"), o)
	case st.IsDir():
		return nil, fmt.Errorf("model %q: directory has neither config.json (Hugging Face) nor model.bin (llama2.c)", ref)
	case strings.HasSuffix(strings.ToLower(ref), ".gguf"):
		m, err = loadGGUF(ref, o)
	default:
		m, err = loadLlama2C(ref, filepath.Join(filepath.Dir(ref), "tokenizer.bin"), o)
	}
	if err != nil {
		return nil, err
	}
	m.Name = name
	return m, nil
}

// archOptions are the engine options of o; release (may be nil) evicts a
// copied tensor's pages from the checkpoint's mapping.
func (o LoadOptions) archOptions(release func([]byte) error) arch.Options {
	a := arch.Options{DType: o.DType, MaxSeq: o.MaxSeq, Resident: !o.Mmap}
	if release != nil && !o.Mmap {
		a.Release = func(b []byte) { _ = release(b) } // best effort, like evict
	}
	return a
}

// evict drops a checkpoint's mapped pages from the resident set once the
// weights have been copied (not under Mmap). It is best effort: a failure
// only leaves the pages resident until the kernel reclaims them.
func (o LoadOptions) evict(f func() error) {
	if !o.Mmap {
		_ = f()
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func loadLlama2C(path, tokPath string, o LoadOptions) (*Model, error) {
	r, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	h, ts, err := llama2c.Parse(r.Data)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := Llama2CConfig(h)
	src := arch.MapSource{}
	for _, t := range ts {
		src[t.Name] = t
	}
	o = o.fit(int64(len(r.Data)))
	msrc, err := o.withAdapter(src, cfg)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	am, err := arch.New(cfg, msrc, o.archOptions(r.EvictRange))
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tok, err := tokenizer.LoadLlama2C(tokPath, h.Vocab)
	if err != nil {
		am.Close()
		r.Close()
		return nil, err
	}
	o.evict(r.Evict)
	return &Model{Transformer: am, Tok: tok, Path: path, Format: FormatLlama2C, closers: []func() error{am.Close, r.Close}, src: msrc}, nil
}

// Llama2CConfig is the engine config of a llama2.c checkpoint: Llama with
// interleaved rotary pairs, theta 10000, RMSNorm eps 1e-5.
func Llama2CConfig(h llama2c.Header) arch.Config {
	return arch.Config{Arch: "llama", Vocab: h.Vocab, Dim: h.Dim, Layers: h.Layers, Heads: h.Heads,
		KVHeads: h.KVHeads, HeadDim: h.Dim / h.Heads, FFN: h.Hidden, MaxSeq: h.SeqLen,
		Norm: arch.RMSNorm, NormEps: 1e-5, Act: arch.SiLU, Gated: true,
		RopeTheta: 10000, RopeInterleaved: true, Tied: h.Shared}
}

func loadHF(dir string, o LoadOptions) (*Model, error) {
	d, err := hfdir.Open(dir)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Model, error) { d.Close(); return nil, fmt.Errorf("%s: %w", dir, err) }
	mt, _ := d.Config["model_type"].(string)
	if mt == "" {
		return fail(fmt.Errorf("config.json: missing field \"model_type\""))
	}
	fam, err := arch.Lookup(mt)
	if err != nil {
		return fail(fmt.Errorf("config.json: %w", err))
	}
	cfg, err := fam.FromHF(d.Config)
	if err != nil {
		return fail(err)
	}
	o = o.fit(fileSizes(d.WeightFiles()...))
	src, err := o.withAdapter(d, cfg)
	if err != nil {
		return fail(err)
	}
	am, err := arch.New(cfg, src, o.archOptions(d.EvictRange))
	if err != nil {
		return fail(err)
	}
	// A checkpoint without tokenizer.json loads without a tokenizer (the
	// synthetic references take token ids).
	var tok *tokenizer.Tokenizer
	if p, ok := d.File("tokenizer.json"); ok {
		if tok, err = tokenizer.LoadHF(p); err != nil {
			am.Close()
			return fail(err)
		}
	}
	o.evict(d.Evict)
	return &Model{Transformer: am, Tok: tok, Path: dir, Format: FormatHF, closers: []func() error{am.Close, d.Close}, src: src, files: d.WeightFiles()}, nil
}
