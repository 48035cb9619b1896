// Package safetensors reads and writes the safetensors format of Hugging Face
// (https://github.com/huggingface/safetensors).
//
// A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON (an
// object mapping tensor names to {"dtype", "shape", "data_offsets"} plus an
// optional "__metadata__" object of string values), then the data section.
// data_offsets are [begin, end) byte offsets relative to the data section,
// which starts at byte 8+N.
//
// Conventions:
//   - Shapes are row-major and outermost first, as in PyTorch; a scalar has
//     shape [] and one element.
//   - Tensor names keep header order: Names, Tensors and Header.Tensors list
//     tensors in the order they appear in the JSON header, and Write writes
//     them in the order given.
//   - Tensor data returned by File.Tensor aliases the read-only memory mapping:
//     no copy is made, and it must not be used after File.Close. A tensor whose
//     file offset is a multiple of its element size gets aligned data.
//   - The dtypes that tensor.DType has (F64, F32, F16, BF16, I64, I32, I8, U8)
//     load. The other dtypes of the format (BOOL, U16, I16, U32, U64, F8_*, F6_*,
//     F4, C64) parse and validate, are listed with DType tensor.Invalid, and
//     File.Tensor reports that limbic cannot load them. A dtype the format does
//     not define is a header error.
//   - ParseHeader validates everything it can before any data is read:
//     lengths, JSON syntax, dtypes, shapes, offsets, sizes and overlaps. Errors
//     start with "safetensors: " and name the tensor; Open adds the file path.
//   - A File is safe for concurrent use, except that Close must not race with
//     other methods.
//   - Write is atomic and pads the header with spaces so that the data section
//     starts at a multiple of 8, as the reference writer does. It writes the
//     tensors contiguously in the given order, so every tensor is aligned when
//     they are ordered by decreasing element size.
package safetensors
