package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/tokenizer"
)

// Writing GGUF in llama.cpp's conventions (those of convert_hf_to_gguf.py):
// general.architecture and the "{arch}.*" hyperparameters, general.file_type,
// tokenizer.ggml.*, llama.cpp's tensor names, q/k rows permuted for the
// llama architecture, Gemma's norms stored as 1+w, GPT-2's Conv1D weights
// transposed, 1-D tensors (norms, biases) in f32 whatever the dtype, Q8_0
// only for matrices whose rows are a multiple of 32 values (others fall
// back to F16, as llama.cpp's converter does).

// llama.cpp's general.file_type values (enum llama_ftype).
var ggufFileTypes = map[tensor.DType]uint32{tensor.F32: 0, tensor.F16: 1, tensor.Q8_0: 7, tensor.BF16: 32}

// ExportGGUF writes the model to a GGUF file that llama.cpp and limbic load
// with the same logits: matrices in dtype (F32, F16, BF16 or Q8_0;
// tensor.Invalid keeps each matrix's stored dtype), the tokenizer as its
// GGUF vocabulary (a placeholder vocabulary when the model has none).
func (m *Model) ExportGGUF(path string, dtype tensor.DType) error {
	cfg, ts, err := m.HFTensors()
	if err != nil {
		return err
	}
	var v *tokenizer.GGUFVocab
	if m.Tok != nil {
		if v, err = GGUFVocabOf(m.Tok, cfg.Arch); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	return WriteGGUF(path, cfg, ts, v, dtype)
}

// WriteGGUF writes a model given as tensors under Hugging Face names in the
// Hugging Face layout (as HFTensors returns them) to path in llama.cpp's
// conventions. vocab nil writes PlaceholderVocab(cfg.Vocab). dtype is the
// type of the weight matrices: F32, F16, BF16, Q8_0, or tensor.Invalid to
// keep each one's dtype.
func WriteGGUF(path string, cfg arch.Config, tensors []*tensor.Tensor, vocab *tokenizer.GGUFVocab, dtype tensor.DType) error {
	return writeGGUFAs(path, cfg, tensors, vocab, dtype, "")
}

// QuantMixes lists the llama-quantize file types WriteGGUFMix writes.
var QuantMixes = []string{"q4_0", "q4_k_m"}

// quantMixes: each mix's base type and general.file_type (llama_ftype).
var quantMixes = map[string]struct {
	base  tensor.DType
	ftype uint32
}{"q4_0": {tensor.Q4_0, 2}, "q4_k_m": {tensor.Q4_K, 15}}

// WriteGGUFMix is WriteGGUF with the weight types llama-quantize chooses
// for one of its file types (QuantMixes) from an f32 model without an
// importance matrix: the base type (Q4_0, Q4_K) for most matrices, Q6_K for
// output.weight (token_embd.weight when tied), and for q4_k_m Q6_K for
// attn_v and ffn_down in the layers llama.cpp's use_more_bits picks. The
// blocks are bit-identical to llama-quantize's. Rows that are not whole
// blocks fall back to Q8_0, or F16 when not a multiple of 32 (llama-quantize
// uses Q5_0 where Q4_K does not fit, which limbic cannot write).
func WriteGGUFMix(path string, cfg arch.Config, tensors []*tensor.Tensor, vocab *tokenizer.GGUFVocab, mix string) error {
	if _, ok := quantMixes[mix]; !ok {
		return fmt.Errorf("gguf: unknown quantisation mix %q (want one of %s)", mix, strings.Join(QuantMixes, ", "))
	}
	return writeGGUFAs(path, cfg, tensors, vocab, tensor.Invalid, mix)
}

// ExportGGUFMix is ExportGGUF with llama-quantize's weight types for mix
// (see WriteGGUFMix).
func (m *Model) ExportGGUFMix(path, mix string) error {
	cfg, ts, err := m.HFTensors()
	if err != nil {
		return err
	}
	var v *tokenizer.GGUFVocab
	if m.Tok != nil {
		if v, err = GGUFVocabOf(m.Tok, cfg.Arch); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	return WriteGGUFMix(path, cfg, ts, v, mix)
}

// mixType is the type llama-quantize gives GGUF tensor name (of shape
// t.Shape) in mix; hasOutput tells whether the file has output.weight.
func mixType(mix, name string, t *tensor.Tensor, nLayers int, hasOutput bool) tensor.DType {
	if ggufType(name, t, tensor.F16) == tensor.F32 { // 1-D tensors, norms, positions
		return tensor.F32
	}
	base := quantMixes[mix].base
	nx := t.Shape[len(t.Shape)-1]
	layer := -1
	if rest, ok := strings.CutPrefix(name, "blk."); ok {
		if i := strings.IndexByte(rest, '.'); i > 0 {
			layer, _ = strconv.Atoi(rest[:i])
		}
	}
	// use_more_bits: the first and last eighth of the layers and every third between.
	moreBits := layer >= 0 && (layer < nLayers/8 || layer >= 7*nLayers/8 || (layer-nLayers/8)%3 == 2)
	typ := base
	switch {
	case name == "output.weight" || !hasOutput && name == "token_embd.weight":
		typ = tensor.Q6_K
		if nx%base.BlockValues() != 0 {
			typ = tensor.Q8_0
		}
	case mix == "q4_k_m" && moreBits && (strings.HasSuffix(name, ".attn_v.weight") || strings.HasSuffix(name, ".ffn_down.weight")):
		typ = tensor.Q6_K
	}
	if nx%typ.BlockValues() != 0 {
		typ = tensor.Q8_0
		if nx%typ.BlockValues() != 0 {
			typ = tensor.F16
		}
	}
	return typ
}

// writeGGUFAs is WriteGGUF with the matrices in dtype, or, for a non-empty
// mix, in the types of that llama-quantize mix.
func writeGGUFAs(path string, cfg arch.Config, tensors []*tensor.Tensor, vocab *tokenizer.GGUFVocab, dtype tensor.DType, mix string) error {
	fam, err := arch.Lookup(cfg.Arch)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	spec := fam.GGUF
	if spec == nil {
		return fmt.Errorf("gguf: writing %s models is not supported", cfg.Arch)
	}
	if cfg.RopeInterleaved || cfg.Conv1DTransposed || (spec.NormShift && cfg.Norm == arch.RMSNorm) {
		return fmt.Errorf("gguf: the tensors must be in the Hugging Face layout (as Model.HFTensors returns them)")
	}
	if _, ok := ggufFileTypes[dtype]; !ok && dtype != tensor.Invalid {
		return fmt.Errorf("gguf: cannot write weights as %v (want F32, F16, BF16 or Q8_0)", dtype)
	}

	// The vocabulary must have one token per embedding row: llama.cpp pads
	// a short one with [PAD] tokens, or for Gemma 3 drops the extra rows.
	v := PlaceholderVocab(cfg.Vocab)
	if vocab != nil {
		v = cloneVocab(*vocab)
	}
	rows := cfg.Vocab
	switch n := len(v.Tokens); {
	case n > rows:
		return fmt.Errorf("gguf: the vocabulary has %d tokens, the model's embedding only %d rows", n, rows)
	case n < rows && spec.TrimVocab:
		rows = n
	case n < rows:
		padVocab(&v, rows)
	}
	out := cfg
	out.Vocab = rows

	kvs, err := fam.GGUFMetadata(&out)
	if err != nil {
		return err
	}
	w := gguf.NewWriter()
	add := func(k string, val any) {
		if err == nil {
			err = w.AddKV(k, val)
		}
	}
	add(gguf.KeyArchitecture, spec.Arch)
	add("general.type", "model")
	for _, kv := range kvs {
		add(kv.Key, kv.Value)
	}
	ftype := fileType(tensors, dtype)
	if mix != "" {
		ftype = quantMixes[mix].ftype
	}
	add("general.file_type", ftype)
	for _, kv := range vocabKVs(&v) {
		add(kv.Key, kv.Value)
	}
	add("general.quantization_version", uint32(2))
	if err != nil {
		return err
	}

	if rf := arch.RopeFreqs(&cfg); rf != nil {
		if err := w.AddTensor(rf); err != nil {
			return err
		}
	}
	for _, t := range tensors {
		name, ok := spec.GGUFName(t.Name)
		if !ok {
			return fmt.Errorf("gguf: tensor %q has no name in llama.cpp's %s", t.Name, spec.Arch)
		}
		g, err := fam.ToGGUFLayout(&cfg, t.Name, t)
		if err != nil {
			return err
		}
		if (name == "token_embd.weight" || name == "output.weight") && rows < cfg.Vocab {
			if g, err = firstRows(g, rows); err != nil {
				return err
			}
		}
		src := g
		typ := ggufType(name, g, dtype)
		hasOutput := !cfg.Tied || spec.DupOutput
		if mix != "" {
			typ = mixType(mix, name, g, cfg.Layers, hasOutput)
		}
		if g, err = arch.Convert(g, typ); err != nil {
			return err
		}
		named := *g
		named.Name = name
		if err := w.AddTensor(&named); err != nil {
			return err
		}
		if name == "token_embd.weight" && cfg.Tied && spec.DupOutput {
			dup := named
			if mix != "" { // llama-quantize gives the output its own type
				o, err := arch.Convert(src, mixType(mix, "output.weight", src, cfg.Layers, true))
				if err != nil {
					return err
				}
				dup = *o
			}
			dup.Name = "output.weight"
			if err := w.AddTensor(&dup); err != nil {
				return err
			}
		}
	}
	return w.WriteFile(path)
}

// ggufType is the dtype a tensor is written in, as llama.cpp's converter
// chooses it: F32 for 1-D tensors (norms, biases), norm weights and the
// position table; want for other matrices (their own dtype for Invalid),
// Q8_0 only for rows of a multiple of 32 values, else F16.
func ggufType(name string, t *tensor.Tensor, want tensor.DType) tensor.DType {
	if len(t.Shape) < 2 || strings.HasSuffix(name, "_norm.weight") || name == "position_embd.weight" {
		return tensor.F32
	}
	if want == tensor.Invalid {
		want = t.DType
		if _, ok := ggufFileTypes[want]; !ok {
			want = tensor.F32
		}
	}
	if want == tensor.Q8_0 && t.Shape[len(t.Shape)-1]%tensor.Q8BlockSize != 0 {
		return tensor.F16
	}
	return want
}

// fileType is general.file_type: the dtype asked for, or that of the first
// matrix when each keeps its own.
func fileType(ts []*tensor.Tensor, dtype tensor.DType) uint32 {
	if dtype == tensor.Invalid {
		for _, t := range ts {
			if len(t.Shape) == 2 {
				dtype = ggufType("", t, tensor.Invalid)
				break
			}
		}
	}
	return ggufFileTypes[dtype]
}

func firstRows(t *tensor.Tensor, n int) (*tensor.Tensor, error) {
	rowElems := tensor.Numel(t.Shape[1:])
	rb, err := t.DType.Bytes(rowElems)
	if err != nil {
		return nil, err
	}
	out := *t
	out.Shape = append([]int{n}, t.Shape[1:]...)
	out.Data = t.Data[:n*rb]
	return &out, nil
}

// PlaceholderVocab is a vocabulary of n tokens for models without a
// tokenizer (random or synthetic ones), as llama.cpp accepts it: a
// SentencePiece ("llama") vocabulary of <unk>, <s>, </s> and <tN>
// placeholders, all scores 0, no BOS added.
func PlaceholderVocab(n int) tokenizer.GGUFVocab {
	v := tokenizer.GGUFVocab{Model: "llama", Pre: "default", Tokens: make([]string, n), Scores: make([]float32, n), TokenTypes: make([]int32, n)}
	for i := range v.Tokens {
		v.Tokens[i], v.TokenTypes[i] = fmt.Sprintf("<t%d>", i), int32(tokenizer.TypeNormal)
	}
	set := func(id int, piece string, typ tokenizer.TokenType) *int {
		if id >= n {
			return nil
		}
		v.Tokens[id], v.TokenTypes[id] = piece, int32(typ)
		return &id
	}
	v.UnknownID = set(0, "<unk>", tokenizer.TypeUnknown)
	v.BOSTokenID = set(1, "<s>", tokenizer.TypeControl)
	v.EOSTokenID = set(2, "</s>", tokenizer.TypeControl)
	no := false
	v.AddBOSToken = &no
	return v
}

func cloneVocab(v tokenizer.GGUFVocab) tokenizer.GGUFVocab {
	v.Tokens = slices.Clone(v.Tokens)
	v.Scores = slices.Clone(v.Scores)
	v.TokenTypes = slices.Clone(v.TokenTypes)
	v.Merges = slices.Clone(v.Merges)
	return v
}

// padVocab appends unused [PADi] tokens up to n, as llama.cpp's converter
// does when config.json's vocab_size exceeds the tokenizer's.
func padVocab(v *tokenizer.GGUFVocab, n int) {
	for i := len(v.Tokens); i < n; i++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", i))
		if v.Scores != nil {
			v.Scores = append(v.Scores, 0)
		}
		if v.TokenTypes != nil {
			v.TokenTypes = append(v.TokenTypes, int32(tokenizer.TypeUnused))
		}
	}
}

// vocabKVs is a vocabulary as tokenizer.* metadata.
func vocabKVs(v *tokenizer.GGUFVocab) []arch.KV {
	kv := []arch.KV{{Key: "tokenizer.ggml.model", Value: v.Model}}
	if v.Pre != "" {
		kv = append(kv, arch.KV{Key: "tokenizer.ggml.pre", Value: v.Pre})
	}
	kv = append(kv, arch.KV{Key: "tokenizer.ggml.tokens", Value: v.Tokens})
	if v.Scores != nil {
		kv = append(kv, arch.KV{Key: "tokenizer.ggml.scores", Value: v.Scores})
	}
	if v.TokenTypes != nil {
		kv = append(kv, arch.KV{Key: "tokenizer.ggml.token_type", Value: v.TokenTypes})
	}
	if len(v.Merges) > 0 {
		kv = append(kv, arch.KV{Key: "tokenizer.ggml.merges", Value: v.Merges})
	}
	for _, id := range []struct {
		key string
		id  *int
	}{{"bos_token_id", v.BOSTokenID}, {"eos_token_id", v.EOSTokenID}, {"eot_token_id", v.EOTTokenID},
		{"unknown_token_id", v.UnknownID}, {"padding_token_id", v.PaddingID}} {
		if id.id != nil {
			kv = append(kv, arch.KV{Key: "tokenizer.ggml." + id.key, Value: uint32(*id.id)})
		}
	}
	for _, b := range []struct {
		key string
		b   *bool
	}{{"add_bos_token", v.AddBOSToken}, {"add_eos_token", v.AddEOSToken}, {"add_space_prefix", v.AddSpacePrfx}} {
		if b.b != nil {
			kv = append(kv, arch.KV{Key: "tokenizer.ggml." + b.key, Value: *b.b})
		}
	}
	if v.ChatTemplate != "" {
		kv = append(kv, arch.KV{Key: "tokenizer.chat_template", Value: v.ChatTemplate})
	}
	return kv
}

// vocabProbes are texts a GGUF vocabulary must encode as the original
// tokenizer does: spaces, tabs and newlines, digits, contractions, accents,
// several scripts, emoji, code.
var vocabProbes = []string{
	"Hello, world! This is a test.",
	"  leading spaces,\ttabs\nand\n\nnew lines   ",
	"numbers 1234567 and 3.14159, dates 2024-01-31",
	"don't you'll we've I'M",
	"Ünïcödé café naïve 日本語のテキスト Привет мир 🙂👍🏽",
	"func main() { fmt.Println(\"hi\") }",
}

// GGUFVocabOf describes a tokenizer as GGUF tokenizer.* metadata for a
// model of family arch: SentencePiece tokenizers as a "llama" vocabulary
// (scores from the tokenizer, or from its merge ranks when it has none),
// byte-level BPE as a "gpt2" vocabulary with its merges and the
// pre-tokenizer name llama.cpp uses. The result is checked: a tokenizer
// built from it must encode every probe text as tok does.
//
// (The tokenizer package does not export its merges or pre-tokenizer; they
// are read back from MarshalHFJSON and the pre-tokenizer name found by
// trying llama.cpp's names against the probes.)
func GGUFVocabOf(tok *tokenizer.Tokenizer, arch string) (*tokenizer.GGUFVocab, error) {
	n := tok.VocabSize()
	v := tokenizer.GGUFVocab{Tokens: make([]string, n), TokenTypes: make([]int32, n), ChatTemplate: tok.ChatTemplate()}
	for i := range v.Tokens {
		v.Tokens[i], v.TokenTypes[i] = tok.Token(i), int32(tok.TokenType(i))
		if v.Tokens[i] == "" {
			v.Tokens[i], v.TokenTypes[i] = fmt.Sprintf("[PAD%d]", i), int32(tokenizer.TypeUnused)
		}
	}
	ref := func(id int) *int {
		if id < 0 {
			return nil
		}
		return &id
	}
	v.BOSTokenID, v.EOSTokenID, v.UnknownID = ref(tok.BOS()), ref(tok.EOS()), ref(tok.Unknown())
	addBOS := tok.DefaultAddBOS()
	v.AddBOSToken = &addBOS

	var candidates []tokenizer.GGUFVocab
	switch tok.Kind() {
	case tokenizer.SentencePiece:
		v.Model = "llama"
		v.Scores = make([]float32, n)
		hasScores := false
		for i := range v.Scores {
			v.Scores[i] = tok.Score(i)
			hasScores = hasScores || v.Scores[i] != 0
		}
		if !hasScores {
			// llama.cpp merges the pair whose token scores highest: rank
			// order when each merge's result scores minus its rank.
			merges, err := tokenizerMerges(tok)
			if err != nil {
				return nil, err
			}
			for i := range v.Scores {
				v.Scores[i] = -1e9
			}
			for r, m := range merges {
				if id, ok := tok.ID(m[0] + m[1]); ok && v.Scores[id] < float32(-r) {
					v.Scores[id] = float32(-r)
				}
			}
		}
		// The dummy-prefix space: llama.cpp's default, or off (Gemma's
		// converters write add_space_prefix false).
		no := false
		noPrefix := v
		noPrefix.AddSpacePrfx = &no
		candidates = append(candidates, v, noPrefix)
		if strings.HasPrefix(arch, "gemma") {
			candidates[0], candidates[1] = noPrefix, v
		}
	case tokenizer.ByteLevel:
		v.Model = "gpt2"
		merges, err := tokenizerMerges(tok)
		if err != nil {
			return nil, err
		}
		for _, m := range merges {
			v.Merges = append(v.Merges, m[0]+" "+m[1])
		}
		pres := []string{"llama-bpe", "qwen2", "gpt-2", "smollm"}
		first := map[string]string{"qwen2": "qwen2", "qwen3": "qwen2", "gpt2": "gpt-2"}[arch]
		if first != "" {
			pres = append([]string{first}, slices.DeleteFunc(pres, func(p string) bool { return p == first })...)
		}
		for _, p := range pres {
			v.Pre = p
			candidates = append(candidates, v)
		}
	default:
		return nil, fmt.Errorf("gguf: %v tokenizers cannot be written", tok.Kind())
	}
	var lastErr error
	for i := range candidates {
		c := &candidates[i]
		if err := sameEncoding(tok, c); err != nil {
			lastErr = err
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("gguf: the tokenizer cannot be written as a GGUF vocabulary that reads back the same: %w", lastErr)
}

// sameEncoding checks that the tokenizer v describes encodes the probes as tok does.
func sameEncoding(tok *tokenizer.Tokenizer, v *tokenizer.GGUFVocab) error {
	back, err := tokenizer.FromGGUF(*v)
	if err != nil {
		return err
	}
	for _, p := range vocabProbes {
		a, b := tok.Encode(p, false), back.Encode(p, false)
		if !slices.Equal(a, b) {
			return fmt.Errorf("%q encodes as %v, read back as %v", p, a, b)
		}
	}
	return nil
}

// tokenizerMerges reads a tokenizer's BPE merges, in rank order, from its
// tokenizer.json form.
func tokenizerMerges(tok *tokenizer.Tokenizer) ([][2]string, error) {
	b, err := tok.MarshalHFJSON()
	if err != nil {
		return nil, err
	}
	// Decode only model.merges, the last field MarshalHFJSON writes.
	i := bytes.LastIndex(b, []byte(`"merges":`))
	if i < 0 {
		return nil, fmt.Errorf("tokenizer.json without merges")
	}
	var merges []json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(b[i+len(`"merges":`):])).Decode(&merges); err != nil {
		return nil, fmt.Errorf("tokenizer.json merges: %w", err)
	}
	out := make([][2]string, 0, len(merges))
	for _, raw := range merges {
		var pair []string
		if err := json.Unmarshal(raw, &pair); err == nil && len(pair) == 2 {
			out = append(out, [2]string{pair[0], pair[1]})
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("tokenizer merge %s: %w", raw, err)
		}
		var a, c string
		if _, err := fmt.Sscanf(s, "%s %s", &a, &c); err != nil {
			return nil, fmt.Errorf("tokenizer merge %q: %w", s, err)
		}
		out = append(out, [2]string{a, c})
	}
	return out, nil
}
