package arch

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// RandomTensors returns random weights for a model of config c: the
// tensors its family binds, under their Hugging Face names and in the
// Hugging Face layout (as Model.HFTensors returns them), in dtype (F32 or
// BF16). Matrices are N(0, 1/fan_in), embeddings N(0, 1), norm weights
// 1 + N(0, 0.1²) (Gemma's (1+w) norms N(0, 0.1²)), biases N(0, 0.1²). The
// same config and seed give the same tensors.
func RandomTensors(c Config, seed uint64, dtype tensor.DType) ([]*tensor.Tensor, error) {
	c.RopeInterleaved, c.Conv1DTransposed = false, false
	if err := c.Validate(); err != nil {
		return nil, err
	}
	fam, err := Lookup(c.Arch)
	if err != nil {
		return nil, err
	}
	g := &randomSource{c: &c, rng: rand.New(rand.NewPCG(seed, 0x6c696d626963)), dtype: dtype}
	b := &binder{src: g}
	fam.Bind(&c, b)
	if b.err != nil {
		return nil, b.err
	}
	return g.made, g.err
}

type randomSource struct {
	c     *Config
	rng   *rand.Rand
	dtype tensor.DType
	made  []*tensor.Tensor
	err   error
}

func (s *randomSource) Has(string) bool { return true }

func (s *randomSource) Tensor(name string) (*tensor.Tensor, error) {
	panic("arch: randomSource.Tensor called for " + name) // the binder uses generate
}

func (s *randomSource) generate(name string, shape []int) *tensor.Tensor {
	n := tensor.Numel(shape)
	mean, std := 0.0, 1.0
	switch {
	case strings.HasSuffix(name, ".bias"):
		std = 0.1
	case len(shape) == 1: // norm weights
		std = 0.1
		if s.c.Norm != RMSNormPlusOne {
			mean = 1
		}
	case strings.Contains(name, "embed_tokens") || strings.HasSuffix(name, "wte.weight"):
	case strings.HasSuffix(name, "wpe.weight"):
		std = 0.1
	case strings.Contains(name, ".c_attn.") || strings.Contains(name, ".c_proj.") || strings.Contains(name, ".c_fc."):
		std = 1 / math.Sqrt(float64(shape[0])) // Conv1D [in, out]
	default:
		std = 1 / math.Sqrt(float64(shape[len(shape)-1])) // Linear [out, in]
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + std*s.rng.NormFloat64())
	}
	t := tensor.FromF32(name, shape, v)
	if s.dtype != tensor.Invalid && s.dtype != tensor.F32 {
		var err error
		if t, err = Convert(t, s.dtype); err != nil && s.err == nil {
			s.err = err
		}
	}
	s.made = append(s.made, t)
	return t
}
