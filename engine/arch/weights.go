package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Source gives access to a checkpoint's tensors by name.
type Source interface {
	Tensor(name string) (*tensor.Tensor, error)
	Has(name string) bool
}

// MapSource is a Source over a map.
type MapSource map[string]*tensor.Tensor

// Tensor returns the named tensor or an error naming it.
func (m MapSource) Tensor(name string) (*tensor.Tensor, error) {
	if t, ok := m[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("tensor %q not found", name)
}

// Has reports whether the tensor exists.
func (m MapSource) Has(name string) bool { _, ok := m[name]; return ok }

// Linear is a weight matrix [out, in] with an optional bias [out].
type Linear struct {
	W *kernels.Matrix
	B []float32
}

// Norm is a normalisation layer's weight and optional bias; a zero Norm is absent.
type Norm struct {
	W, B []float32
}

// Block holds one transformer block's weights.
type Block struct {
	AttnNorm     Norm   // before attention: input_layernorm / ln_1
	Q, K, V, O   Linear // attention projections
	QNorm, KNorm Norm   // per-head norms of q and k [HeadDim] (Qwen3, Gemma 3)
	PostAttnNorm Norm   // on the attention output before the residual add (Gemma 2/3)
	MLPNorm      Norm   // before the MLP: post_attention_layernorm (Llama), pre_feedforward_layernorm (Gemma), ln_2 (GPT-2)
	Gate, Up     Linear // Gate.W is nil for a non-gated MLP
	Down         Linear // MLP output projection
	PostMLPNorm  Norm   // on the MLP output before the residual add (Gemma 2/3)
}

// Weights holds every tensor of a model.
type Weights struct {
	Embed     *kernels.Matrix // [Vocab, Dim]
	PosEmbed  []float32       // [MaxSeq, Dim] learned positions (GPT-2), or nil
	Blocks    []Block
	FinalNorm Norm
	Output    *kernels.Matrix // [Vocab, Dim]; equals Embed when tied
}

// BoundTensor is a checkpoint tensor a model was built from: its name in
// the source and its canonical Hugging Face name (the one a family's own
// checkpoints use; they differ for Gemma 3 inside a multimodal checkpoint
// and for GPT-2 without the "transformer." prefix).
type BoundTensor struct {
	Source, HF string
}

// binder reads tensors from a Source, checking shapes, and collects the first error.
type binder struct {
	src   Source
	err   error
	dt    tensor.DType // convert matrices to this dtype (Invalid: keep)
	bound []BoundTensor
	canon func(string) string // source name → canonical name (nil: the same)
	arena *arena              // where matrices are copied (Options.Resident), or nil
	// release is told a source tensor's bytes once they are copied into
	// the arena (Options.Release).
	release func([]byte)
}

// generator is a Source that makes tensors of the shape the binder asks
// for (RandomTensors).
type generator interface {
	generate(name string, shape []int) *tensor.Tensor
}

// read fetches a tensor (of the given shape from a generator) and records
// it as bound.
func (b *binder) read(name string, shape []int) *tensor.Tensor {
	if b.err != nil {
		return nil
	}
	var t *tensor.Tensor
	var err error
	if g, ok := b.src.(generator); ok {
		t = g.generate(name, shape)
	} else {
		t, err = b.src.Tensor(name)
	}
	if err != nil {
		b.err = err
		return nil
	}
	hf := name
	if b.canon != nil {
		hf = b.canon(name)
	}
	b.bound = append(b.bound, BoundTensor{Source: name, HF: hf})
	return t
}

func (b *binder) tensor(name string, shape ...int) *tensor.Tensor {
	t := b.read(name, shape)
	if t == nil {
		return nil
	}
	if !slices.Equal(t.Shape, shape) {
		b.err = fmt.Errorf("tensor %q: shape %v, want %v", name, t.Shape, shape)
		return nil
	}
	return t
}

// vec reads a 1-D tensor as float32.
func (b *binder) vec(name string, n int) []float32 {
	t := b.tensor(name, n)
	if t == nil {
		return nil
	}
	v, err := t.F32()
	if err != nil {
		b.err = err
		return nil
	}
	return v
}

// mat reads a 2-D weight matrix [rows, cols].
func (b *binder) mat(name string, rows, cols int) *kernels.Matrix {
	return b.matrix(b.tensor(name, rows, cols))
}

// embedding reads the input embedding [rows, cols]. When the output is not
// tied to it, it stays where the Source holds it even for a resident model:
// a token reads one row, so most of it is never touched.
func (b *binder) embedding(name string, rows, cols int, tied bool) *kernels.Matrix {
	if tied {
		return b.mat(name, rows, cols)
	}
	a := b.arena
	b.arena = nil
	defer func() { b.arena = a }()
	return b.mat(name, rows, cols)
}

// matrix wraps a 2-D tensor as a weight matrix, converted to the requested
// dtype (into the arena when there is one).
func (b *binder) matrix(t *tensor.Tensor) *kernels.Matrix {
	if t == nil || b.err != nil {
		return nil
	}
	alloc := func(n int) []byte { return make([]byte, n) }
	if b.arena != nil {
		alloc = b.arena.alloc
	}
	c, err := convert(t, b.dt, alloc)
	if err == nil && c == t && b.arena != nil {
		c = &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: alloc(len(t.Data))}
		copy(c.Data, t.Data)
	}
	if err == nil && c != t && b.arena != nil && b.release != nil {
		b.release(t.Data)
	}
	t = c
	if err != nil {
		b.err = err
		return nil
	}
	m, err := kernels.NewMatrix(t)
	if err != nil {
		b.err = err
		return nil
	}
	return m
}

func (b *binder) linear(name string, rows, cols int, bias bool) Linear {
	l := Linear{W: b.mat(name+".weight", rows, cols)}
	if bias {
		l.B = b.vec(name+".bias", rows)
	}
	return l
}

func (b *binder) norm(name string, n int, bias bool) Norm {
	nm := Norm{W: b.vec(name+".weight", n)}
	if bias {
		nm.B = b.vec(name+".bias", n)
	}
	return nm
}

// Convert returns a tensor's values in another dtype (F32, BF16, F16, or
// Q8_0, Q4_0, Q4_K, Q6_K for rows of whole blocks, quantised as llama.cpp
// does); to Invalid or the tensor's own dtype returns t.
func Convert(t *tensor.Tensor, to tensor.DType) (*tensor.Tensor, error) {
	return convert(t, to, func(n int) []byte { return make([]byte, n) })
}

// convert is Convert with the new tensor's data from alloc.
func convert(t *tensor.Tensor, to tensor.DType, alloc func(int) []byte) (*tensor.Tensor, error) {
	if to == tensor.Invalid || t.DType == to {
		return t, nil
	}
	v, err := t.F32()
	if err != nil {
		return nil, err
	}
	out := &tensor.Tensor{Name: t.Name, DType: to, Shape: t.Shape}
	switch to {
	case tensor.F32:
		out.Data = alloc(4 * len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(out.Data[4*i:], math.Float32bits(x))
		}
	case tensor.BF16:
		out.Data = alloc(2 * len(v))
		for i, x := range v {
			h := tensor.F32ToBF16(x)
			out.Data[2*i], out.Data[2*i+1] = byte(h), byte(h>>8)
		}
	case tensor.F16:
		out.Data = alloc(2 * len(v))
		for i, x := range v {
			h := tensor.F32ToF16(x)
			out.Data[2*i], out.Data[2*i+1] = byte(h), byte(h>>8)
		}
	case tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K:
		if n, bs := t.Shape[len(t.Shape)-1], to.BlockValues(); n%bs != 0 {
			return nil, fmt.Errorf("tensor %q: rows of %d values cannot be quantised to %v (blocks of %d)", t.Name, n, to, bs)
		}
		q, err := tensor.Quantize(to, v)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		out.Data = alloc(len(q))
		copy(out.Data, q)
	default:
		return nil, fmt.Errorf("tensor %q: cannot convert weights to %v", t.Name, to)
	}
	return out, nil
}
