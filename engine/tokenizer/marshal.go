package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// MarshalHFJSON writes a Hugging Face tokenizer.json that LoadHF (and HF
// tokenizers) read back to an equivalent tokenizer.
//
// For a SentencePiece tokenizer from llama2.c or GGUF this is the Llama
// layout: model BPE with byte_fallback, the vocabulary in SentencePiece
// spelling ("▁the", "<0x0A>"), merges derived from the scores (every split
// of a token into two vocabulary tokens, ordered by the token's score, as
// HF's SentencePiece converter does), normalizer Prepend("▁") +
// Replace(" ", "▁") (or a Metaspace pre-tokenizer when the prefix goes only
// before the first fragment), the BOS template post-processor and the Llama
// decoder. A tokenizer read from a tokenizer.json keeps its own normalizer,
// pre-tokenizer, post-processor and decoder.
func (t *Tokenizer) MarshalHFJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	added := append([]addedToken(nil), t.added...)
	sort.Slice(added, func(i, j int) bool { return added[i].id < added[j].id })
	for i, a := range added {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n    {\"id\": %d, \"content\": %s, \"single_word\": %v, \"lstrip\": %v, \"rstrip\": %v, \"normalized\": %v, \"special\": %v}",
			a.id, jsonString(a.content), a.singleWord, a.lstrip, a.rstrip, a.normalized, a.special)
	}
	b.WriteString("\n  ],\n")

	normalizer, pre, post, dec, err := t.hfPipeline()
	if err != nil {
		return nil, err
	}
	for _, part := range []struct {
		key string
		val json.RawMessage
	}{{"normalizer", normalizer}, {"pre_tokenizer", pre}, {"post_processor", post}, {"decoder", dec}} {
		if isNull(part.val) {
			part.val = json.RawMessage("null")
		}
		var c bytes.Buffer
		if err := json.Compact(&c, part.val); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", part.key, err)
		}
		fmt.Fprintf(&b, "  %q: %s,\n", part.key, c.Bytes())
	}

	// model
	unk := "null"
	if t.unk >= 0 {
		unk = jsonString(t.pieces[t.unk])
	}
	fmt.Fprintf(&b, "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": %s,\n", unk)
	b.WriteString("    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n")
	fmt.Fprintf(&b, "    \"fuse_unk\": %v,\n    \"byte_fallback\": %v,\n    \"ignore_merges\": %v,\n", t.fuseUnk || t.kind == SentencePiece, t.byteFallback, t.ignoreMerges)
	b.WriteString("    \"vocab\": {")
	first := true
	for id, p := range t.pieces {
		if !t.inModelVocab(id) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "\n      %s: %d", jsonString(p), id)
	}
	b.WriteString("\n    },\n    \"merges\": [")
	for i, m := range t.mergeList() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n      [%s, %s]", jsonString(t.pieces[m[0]]), jsonString(t.pieces[m[1]]))
	}
	b.WriteString("\n    ]\n  }\n}\n")
	return b.Bytes(), nil
}

// MarshalHFConfig writes a tokenizer_config.json to go beside
// MarshalHFJSON's tokenizer.json: BOS/EOS/UNK, add_bos_token,
// add_eos_token and the chat template.
func (t *Tokenizer) MarshalHFConfig() ([]byte, error) {
	c := map[string]any{
		"add_bos_token":                t.addBOS,
		"add_eos_token":                t.addEOS,
		"clean_up_tokenization_spaces": false,
		"tokenizer_class":              "PreTrainedTokenizerFast",
	}
	for key, id := range map[string]int{"bos_token": t.bos, "eos_token": t.eos, "unk_token": t.unk, "pad_token": t.pad} {
		if id >= 0 {
			c[key] = t.pieces[id]
		}
	}
	if t.chatTemplate != "" {
		c["chat_template"] = t.chatTemplate
	}
	return json.MarshalIndent(c, "", "  ")
}

// jsonString quotes s as a JSON string (UTF-8 kept as is; invalid bytes
// become U+FFFD, as encoding/json does).
func jsonString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, fmt.Sprintf("\\u%04x", c)...)
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\\ufffd"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(append(b, '"'))
}

// inModelVocab reports whether id belongs in model.vocab (not only in
// added_tokens).
func (t *Tokenizer) inModelVocab(id int) bool {
	if t.hfSource != nil && t.hfSource.modelVocab != nil {
		return t.hfSource.modelVocab[id]
	}
	return t.types[id] != TypeUnused || t.pieces[id] != ""
}

// mergeList returns the merges in rank order as (left, right) ids.
func (t *Tokenizer) mergeList() [][2]int {
	type m struct {
		l, r, res int
		rank      int64
		score     float32
	}
	var list []m
	if t.mode == byRank {
		for k, v := range t.merges {
			list = append(list, m{l: int(k >> 32), r: int(uint32(k)), res: int(v.id), rank: int64(v.rank)})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].rank < list[j].rank })
	} else {
		// every split of a mergeable token into two tokens that BPE symbols
		// can be; by score, then token id, then the parts' ids
		for id, p := range t.pieces {
			if t.scoreRank[id] < 0 {
				continue
			}
			for i := range p {
				if i == 0 {
					continue
				}
				l, ok1 := t.vocab[p[:i]]
				r, ok2 := t.vocab[p[i:]]
				if ok1 && ok2 && t.symbolType(l) && t.symbolType(r) {
					list = append(list, m{l: l, r: r, res: id, score: t.scores[id]})
				}
			}
		}
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.score != b.score {
				return a.score > b.score
			}
			if a.res != b.res {
				return a.res < b.res
			}
			if a.l != b.l {
				return a.l < b.l
			}
			return a.r < b.r
		})
	}
	out := make([][2]int, len(list))
	for i, x := range list {
		out[i] = [2]int{x.l, x.r}
	}
	return out
}

// symbolType reports whether a token can be a BPE symbol (a character or a
// merge result), not a control or byte token.
func (t *Tokenizer) symbolType(id int) bool {
	ty := t.types[id]
	return ty == TypeNormal || ty == TypeUserDefined || ty == TypeUndefined
}

// hfPipeline returns the normalizer, pre-tokenizer, post-processor and
// decoder JSON.
func (t *Tokenizer) hfPipeline() (normalizer, pre, post, dec json.RawMessage, err error) {
	if s := t.hfSource; s != nil {
		return s.normalizer, s.preTokenizer, s.postProcessor, s.decoder, nil
	}
	js := marshalNoEscape
	type obj = map[string]any
	var steps []any
	if t.normalizerName != "" {
		steps = append(steps, obj{"type": t.normalizerName})
	}
	post = t.templateJSON()
	switch t.kind {
	case SentencePiece:
		var decs []any
		decs = append(decs, obj{"type": "Replace", "pattern": obj{"String": "▁"}, "content": " "},
			obj{"type": "ByteFallback"}, obj{"type": "Fuse"})
		switch {
		case t.prefix == prefixAlways && !t.prefixSkip:
			steps = append(steps, obj{"type": "Prepend", "prepend": "▁"}, obj{"type": "Replace", "pattern": obj{"String": " "}, "content": "▁"})
			decs = append(decs, obj{"type": "Strip", "content": " ", "start": 1, "stop": 0})
		case t.prefix == prefixNever:
			steps = append(steps, obj{"type": "Replace", "pattern": obj{"String": " "}, "content": "▁"})
		default:
			scheme := "first"
			if t.prefix == prefixAlways {
				scheme = "always"
			}
			pre = js(obj{"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": t.splitMeta})
			decs = []any{obj{"type": "Replace", "pattern": obj{"String": "▁"}, "content": " "},
				obj{"type": "ByteFallback"}, obj{"type": "Fuse"}, obj{"type": "Strip", "content": " ", "start": 1, "stop": 0}}
		}
		dec = js(obj{"type": "Sequence", "decoders": decs})
	case ByteLevel:
		var pres []any
		useRegex := false
		for _, sp := range t.pretok {
			switch s := sp.(type) {
			case gpt2Splitter:
				useRegex = true
			case digitsSplitter:
				pres = append(pres, obj{"type": "Digits", "individual_digits": s.individual})
			case patternSplitter:
				pat := map[string]string{"gpt2": patternGPT2, "llama3": patternLlama3, "qwen2": patternQwen2}[s.name]
				pres = append(pres, obj{"type": "Split", "pattern": obj{"Regex": pat}, "behavior": "Isolated", "invert": false})
			default:
				return nil, nil, nil, nil, fmt.Errorf("tokenizer: cannot write pre-tokenizer %T as tokenizer.json", sp)
			}
		}
		bl := obj{"type": "ByteLevel", "add_prefix_space": t.prefix != prefixNever, "trim_offsets": true, "use_regex": useRegex}
		pres = append(pres, bl)
		pre = js(obj{"type": "Sequence", "pretokenizers": pres})
		dec = js(obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true})
	}
	switch len(steps) {
	case 0:
	case 1:
		normalizer = js(steps[0])
	default:
		normalizer = js(obj{"type": "Sequence", "normalizers": steps})
	}
	return normalizer, pre, post, dec, nil
}

// templateJSON is a TemplateProcessing post-processor that adds BOS/EOS as
// the tokenizer does by default.
func (t *Tokenizer) templateJSON() json.RawMessage {
	type obj = map[string]any
	var single, pair []any
	special := obj{}
	seq := func(id string, typeID int) obj { return obj{"Sequence": obj{"id": id, "type_id": typeID}} }
	tok := func(id, typeID int) obj {
		p := t.pieces[id]
		special[p] = obj{"id": p, "ids": []int{id}, "tokens": []string{p}}
		return obj{"SpecialToken": obj{"id": p, "type_id": typeID}}
	}
	if t.addBOS && t.bos >= 0 {
		single = append(single, tok(t.bos, 0))
		pair = append(pair, tok(t.bos, 0))
	}
	single = append(single, seq("A", 0))
	pair = append(pair, seq("A", 0))
	if t.addEOS && t.eos >= 0 {
		single = append(single, tok(t.eos, 0))
		pair = append(pair, tok(t.eos, 0))
	}
	if t.addBOS && t.bos >= 0 {
		pair = append(pair, tok(t.bos, 1))
	}
	pair = append(pair, seq("B", 1))
	if t.addEOS && t.eos >= 0 {
		pair = append(pair, tok(t.eos, 1))
	}
	return marshalNoEscape(obj{"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": special})
}

// marshalNoEscape is json.Marshal without HTML escaping ("<s>", not
// "\u003cs\u003e").
func marshalNoEscape(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n")
}
