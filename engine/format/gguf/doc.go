// Package gguf reads and writes GGUF, the file format of llama.cpp and ggml
// (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
//
// A file is a header (magic "GGUF", version, tensor count, metadata count),
// typed metadata key-value pairs, tensor infos (name, dimensions, ggml type,
// offset), padding to the alignment, then the tensor data. Versions 2 and 3
// (little-endian) are read; version 3 is written.
//
// Conventions:
//   - Shapes: GGUF lists dimensions innermost first (ne0 is the contiguous
//     one). TensorInfo.Dims keeps that order; TensorInfo.Shape and the Shape
//     of returned tensors are reversed to outermost first, as in safetensors
//     and PyTorch, so a GGUF [in, out] weight (ne0 = in) reads as [out, in].
//     The writer reverses shapes back.
//   - Metadata values are plain Go values, one Go type per GGUF type: uint8,
//     int8, uint16, int16, uint32, int32, float32, bool, string, uint64, int64,
//     float64, and for arrays the slice of one of those ([]string, []int32,
//     ...). The reader produces exactly these and Writer.AddKV accepts exactly
//     these (int, uint and float types of other sizes are refused, so the
//     written type is never a guess). Arrays of arrays are not supported, as
//     in llama.cpp. Keys keep file order.
//   - Typed accessors (String, Uint, Int, Float, Bool, Strings, Ints, Floats)
//     return (value, true, nil) when the key is present with a fitting type,
//     (zero, false, nil) when it is absent, and a *TypeError when the type
//     does not fit. Integer accessors accept any integer width that holds the
//     value; Float accepts float32 and float64.
//   - Tensor types: F32, F16, BF16, I8, I32, I64, F64 and the block
//     quantisations Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K,
//     Q6_K, IQ4_NL and IQ4_XS (SupportedTypes) load as tensor.Tensor, blocks
//     kept as stored. Every other ggml type (IQ2_XXS, TQ1_0, ...) is
//     recognised, sized and listed by TensorInfos, but File.Tensor reports
//     that limbic cannot load it. Unknown type ids are an error.
//   - Tensor data aliases the read-only memory mapping (no copy) and must not
//     be used after Close. The data section starts at a multiple of the
//     alignment (general.alignment, default 32) and every tensor offset is a
//     multiple of it, so data is aligned.
//   - A File is safe for concurrent use, except that Close must not race with
//     other methods. A Writer is not safe for concurrent use.
//   - Parsing validates before allocating: counts and lengths are checked
//     against the bytes left in the file, so a corrupt count cannot cause a
//     huge allocation. Errors start with "gguf: " and say where (byte offset,
//     key or tensor); Open adds the file path.
//   - Writes are atomic: a temporary file in the same directory is fsynced and
//     renamed into place; on error nothing is left behind.
package gguf
