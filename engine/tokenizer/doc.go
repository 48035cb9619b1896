// Package tokenizer turns text into token ids and back for the models limbic
// runs, in pure Go.
//
// # Sources
//
//	LoadLlama2C(path, vocabSize) / ParseLlama2C(data, vocabSize)  llama2.c tokenizer.bin
//	LoadHF(path) / ParseHF(data) / ParseHFWithConfig(data, cfg)   Hugging Face tokenizer.json (+ tokenizer_config.json)
//	FromGGUF(GGUFVocab)                                           GGUF tokenizer.ggml.* metadata
//
// # Use
//
//	tk.Encode(text, addBOS)            // special-token text parsed, as HF does by default
//	tk.EncodeOpts(text, EncodeOptions{AddBOS: true, ParseSpecial: false})
//	tk.Decode(ids)                     // inverse of Encode for valid text
//	d := tk.NewDecoder(); d.Next(id)   // streaming: only complete UTF-8 comes out
//	tk.Token(id), tk.ID(piece), tk.VocabSize(), tk.BOS(), tk.EOS(), tk.EOG(), tk.IsEOG(id)
//	tk.DefaultAddBOS(), tk.ChatTemplate() // see package chat for rendering
//	tk.MarshalHFJSON(), tk.MarshalHFConfig()
//
// A Tokenizer is safe for concurrent use; a Decoder is not.
//
// # Algorithms
//
// SentencePiece BPE (Kind SentencePiece: Llama 2, Mistral, Gemma,
// stories15M): spaces become '▁', a dummy '▁' goes before the text, the
// text is merged pairwise (by score for tokenizer.bin and GGUF, as llama.cpp
// does; by merge rank for tokenizer.json, as HF does) and characters outside
// the vocabulary fall back to <0xXX> byte tokens. As in llama.cpp and HF's
// Llama tokenizer, the dummy prefix also goes before text that follows an
// added/special token ("<s> hi" -> <s> ▁ ▁hi). HF's Metaspace pre-tokenizer
// (prepend_scheme always/first/never, split) is supported too.
//
// Byte-level BPE (Kind ByteLevel: GPT-2, Llama 3, Qwen2/2.5/3): the text is
// split by the family's pre-tokenizer pattern (GPT-2's, Llama 3's and
// Qwen2's are matched by hand, exactly, including the \s+(?!\S) lookahead;
// other regexes from a tokenizer.json go through regexp2), each piece's bytes
// are written as GPT-2's printable characters and merged by rank; Llama 3's
// ignore_merges is honoured.
//
// Added tokens (special and not) are split out of the text first, leftmost
// and longest, with their lstrip/rstrip/single_word flags. Encode parses
// special-token text ("<s>", "<|im_start|>") as the token, as HF does by
// default; EncodeOpts with ParseSpecial false leaves it as text (non-special
// added tokens are still split out). Added tokens are matched on the raw
// text, also those marked normalized (HF matches those on normalized text).
//
// The BPE of each word is memoised in a bounded cache. For SentencePiece,
// text is cut at word starts ('▁' after another character) when no
// vocabulary token spans such a boundary, which is checked at load time, so
// the cut never changes the result.
//
// # Decoding
//
// Decode inverts Encode for valid UTF-8 text: a leading BOS is dropped,
// special tokens are written as their text, and for SentencePiece one space
// is removed where Encode put a dummy prefix. Exceptions: SentencePiece text
// containing '▁' (U+2581) decodes it as a space; NFC-normalising tokenizers
// (Qwen2) return the normalised text; HF's clean_up_tokenization_spaces is
// not applied. NewDecoder streams: Decoder.Next returns only complete UTF-8.
//
// # Writing
//
// MarshalHFJSON writes a tokenizer.json (and MarshalHFConfig a
// tokenizer_config.json) that LoadHF reads back to the same tokenizer; for
// llama2.c tokenizers it is HF's Llama layout with merges derived from the
// scores. (transformers.js, reading the file written from stories15M's
// tokenizer.bin, reproduces all 72 stories15m and llama2 reference lines.)
package tokenizer
