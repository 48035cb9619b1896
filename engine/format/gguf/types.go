package gguf

import (
	"fmt"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// ValueType is the type of a metadata value.
type ValueType uint32

// The metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the type's name ("uint32", "string", ...).
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// size returns the encoded size of a fixed-size value type, 0 for string and
// array, -1 for an unknown type.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	case TypeString, TypeArray:
		return 0
	}
	return -1
}

// TypeOf returns the GGUF type of a metadata value, and for an array its
// element type. ok is false for a Go type that has no GGUF equivalent.
func TypeOf(v any) (t, elem ValueType, ok bool) {
	switch v.(type) {
	case uint8:
		return TypeUint8, 0, true
	case int8:
		return TypeInt8, 0, true
	case uint16:
		return TypeUint16, 0, true
	case int16:
		return TypeInt16, 0, true
	case uint32:
		return TypeUint32, 0, true
	case int32:
		return TypeInt32, 0, true
	case float32:
		return TypeFloat32, 0, true
	case bool:
		return TypeBool, 0, true
	case string:
		return TypeString, 0, true
	case uint64:
		return TypeUint64, 0, true
	case int64:
		return TypeInt64, 0, true
	case float64:
		return TypeFloat64, 0, true
	case []uint8:
		return TypeArray, TypeUint8, true
	case []int8:
		return TypeArray, TypeInt8, true
	case []uint16:
		return TypeArray, TypeUint16, true
	case []int16:
		return TypeArray, TypeInt16, true
	case []uint32:
		return TypeArray, TypeUint32, true
	case []int32:
		return TypeArray, TypeInt32, true
	case []float32:
		return TypeArray, TypeFloat32, true
	case []bool:
		return TypeArray, TypeBool, true
	case []string:
		return TypeArray, TypeString, true
	case []uint64:
		return TypeArray, TypeUint64, true
	case []int64:
		return TypeArray, TypeInt64, true
	case []float64:
		return TypeArray, TypeFloat64, true
	}
	return 0, 0, false
}

// typeString describes the GGUF type of v for messages: "uint32",
// "array of string".
func typeString(v any) string {
	t, elem, ok := TypeOf(v)
	switch {
	case !ok:
		return fmt.Sprintf("Go type %T", v)
	case t == TypeArray:
		return "array of " + elem.String()
	}
	return t.String()
}

// GGMLType is a ggml tensor type id.
type GGMLType uint32

// The ggml tensor types (ggml.h). Ids 4, 5, 31-33 and 36-38 belonged to
// types that were removed and are not valid in GGUF files.
const (
	F32     GGMLType = 0
	F16     GGMLType = 1
	Q4_0    GGMLType = 2
	Q4_1    GGMLType = 3
	Q5_0    GGMLType = 6
	Q5_1    GGMLType = 7
	Q8_0    GGMLType = 8
	Q8_1    GGMLType = 9
	Q2_K    GGMLType = 10
	Q3_K    GGMLType = 11
	Q4_K    GGMLType = 12
	Q5_K    GGMLType = 13
	Q6_K    GGMLType = 14
	Q8_K    GGMLType = 15
	IQ2_XXS GGMLType = 16
	IQ2_XS  GGMLType = 17
	IQ3_XXS GGMLType = 18
	IQ1_S   GGMLType = 19
	IQ4_NL  GGMLType = 20
	IQ3_S   GGMLType = 21
	IQ2_S   GGMLType = 22
	IQ4_XS  GGMLType = 23
	I8      GGMLType = 24
	I16     GGMLType = 25
	I32     GGMLType = 26
	I64     GGMLType = 27
	F64     GGMLType = 28
	IQ1_M   GGMLType = 29
	BF16    GGMLType = 30
	TQ1_0   GGMLType = 34
	TQ2_0   GGMLType = 35
	MXFP4   GGMLType = 39
	NVFP4   GGMLType = 40
)

// ggmlTypeInfo is one row of the ggml type table: a block of blockSize
// values takes typeSize bytes.
type ggmlTypeInfo struct {
	name      string
	blockSize int
	typeSize  int
	dtype     tensor.DType // tensor.Invalid when limbic cannot load it
}

const qkK = 256 // values per k-quant super-block

var ggmlTypes = map[GGMLType]ggmlTypeInfo{
	F32:     {"F32", 1, 4, tensor.F32},
	F16:     {"F16", 1, 2, tensor.F16},
	Q4_0:    {"Q4_0", 32, 2 + 16, tensor.Q4_0},
	Q4_1:    {"Q4_1", 32, 2 + 2 + 16, tensor.Q4_1},
	Q5_0:    {"Q5_0", 32, 2 + 4 + 16, tensor.Q5_0},
	Q5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16, tensor.Q5_1},
	Q8_0:    {"Q8_0", 32, 2 + 32, tensor.Q8_0},
	Q8_1:    {"Q8_1", 32, 4 + 32, tensor.Invalid},
	Q2_K:    {"Q2_K", qkK, qkK/16 + qkK/4 + 2 + 2, tensor.Q2_K},
	Q3_K:    {"Q3_K", qkK, qkK/8 + qkK/4 + 12 + 2, tensor.Q3_K},
	Q4_K:    {"Q4_K", qkK, 2 + 2 + 12 + qkK/2, tensor.Q4_K},
	Q5_K:    {"Q5_K", qkK, 2 + 2 + 12 + qkK/8 + qkK/2, tensor.Q5_K},
	Q6_K:    {"Q6_K", qkK, qkK/2 + qkK/4 + qkK/16 + 2, tensor.Q6_K},
	Q8_K:    {"Q8_K", qkK, 4 + qkK + qkK/16*2, tensor.Invalid},
	IQ2_XXS: {"IQ2_XXS", qkK, 2 + qkK/4, tensor.Invalid},
	IQ2_XS:  {"IQ2_XS", qkK, 2 + qkK/4 + qkK/32, tensor.Invalid},
	IQ3_XXS: {"IQ3_XXS", qkK, 2 + 3*qkK/8, tensor.Invalid},
	IQ1_S:   {"IQ1_S", qkK, 2 + qkK/8 + qkK/16, tensor.Invalid},
	IQ4_NL:  {"IQ4_NL", 32, 2 + 16, tensor.IQ4_NL},
	IQ3_S:   {"IQ3_S", qkK, 2 + qkK/4 + qkK/8 + qkK/32 + 4, tensor.Invalid},
	IQ2_S:   {"IQ2_S", qkK, 2 + qkK/4 + qkK/16, tensor.Invalid},
	IQ4_XS:  {"IQ4_XS", qkK, 2 + 2 + qkK/64 + qkK/2, tensor.IQ4_XS},
	I8:      {"I8", 1, 1, tensor.I8},
	I16:     {"I16", 1, 2, tensor.Invalid},
	I32:     {"I32", 1, 4, tensor.I32},
	I64:     {"I64", 1, 8, tensor.I64},
	F64:     {"F64", 1, 8, tensor.F64},
	IQ1_M:   {"IQ1_M", qkK, qkK/8 + qkK/16 + qkK/32, tensor.Invalid},
	BF16:    {"BF16", 1, 2, tensor.BF16},
	TQ1_0:   {"TQ1_0", qkK, 2 + 4*13, tensor.Invalid},
	TQ2_0:   {"TQ2_0", qkK, 2 + qkK/4, tensor.Invalid},
	MXFP4:   {"MXFP4", 32, 1 + 16, tensor.Invalid},
	NVFP4:   {"NVFP4", 64, 4 + 32, tensor.Invalid},
}

// SupportedTypes lists the tensor types limbic loads, for messages.
const SupportedTypes = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, I8, I32, I64, F64"

// String returns the ggml name of the type ("Q4_K"), or "type(N)" for an
// unknown id.
func (t GGMLType) String() string {
	if info, ok := ggmlTypes[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether t is a ggml type this package can size.
func (t GGMLType) Known() bool {
	_, ok := ggmlTypes[t]
	return ok
}

// BlockSize returns the number of values in one block of t (1 for plain
// types), 0 for an unknown type.
func (t GGMLType) BlockSize() int { return ggmlTypes[t].blockSize }

// TypeSize returns the number of bytes of one block of t, 0 for an unknown
// type.
func (t GGMLType) TypeSize() int { return ggmlTypes[t].typeSize }

// DType returns the tensor.DType that t loads as; ok is false when limbic
// cannot load t.
func (t GGMLType) DType() (d tensor.DType, ok bool) {
	d = ggmlTypes[t].dtype
	return d, d != tensor.Invalid
}

// ggmlTypeOf maps a tensor.DType to the ggml type it is written as.
func ggmlTypeOf(d tensor.DType) (GGMLType, bool) {
	switch d {
	case tensor.F32:
		return F32, true
	case tensor.F16:
		return F16, true
	case tensor.BF16:
		return BF16, true
	case tensor.Q8_0:
		return Q8_0, true
	case tensor.Q4_0:
		return Q4_0, true
	case tensor.Q4_1:
		return Q4_1, true
	case tensor.Q5_0:
		return Q5_0, true
	case tensor.Q5_1:
		return Q5_1, true
	case tensor.Q2_K:
		return Q2_K, true
	case tensor.Q3_K:
		return Q3_K, true
	case tensor.Q4_K:
		return Q4_K, true
	case tensor.Q5_K:
		return Q5_K, true
	case tensor.Q6_K:
		return Q6_K, true
	case tensor.IQ4_NL:
		return IQ4_NL, true
	case tensor.IQ4_XS:
		return IQ4_XS, true
	case tensor.I8:
		return I8, true
	case tensor.I32:
		return I32, true
	case tensor.I64:
		return I64, true
	case tensor.F64:
		return F64, true
	}
	return 0, false
}
