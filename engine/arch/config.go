package arch

import (
	"fmt"
	"math"
	"slices"
)

// NormKind selects the normalisation layer.
type NormKind uint8

// Normalisations.
const (
	RMSNorm        NormKind = iota // x/rms(x)·w
	RMSNormPlusOne                 // x/rms(x)·(1+w) (Gemma)
	LayerNorm                      // (x-mean)/std·w + b (GPT-2)
)

// Activation selects the MLP nonlinearity.
type Activation uint8

// Activations.
const (
	SiLU     Activation = iota // x·σ(x)
	GELUTanh                   // tanh approximation of GELU
)

// RopeScaling describes a rotary-frequency rescaling.
type RopeScaling struct {
	Type                          string  // "linear", "llama3" or "factors"
	Factor                        float64 // frequency divisor
	LowFreqFactor, HighFreqFactor float64 // llama3
	OriginalMaxPos                int     // llama3: original_max_position_embeddings
	// Factors divide each inverse frequency ("factors": llama.cpp's
	// rope_freqs tensor, its form of llama3 scaling in GGUF files).
	Factors []float64
}

// Config describes a decoder-only transformer in architecture-neutral terms.
// Families fill it from their checkpoint configs.
type Config struct {
	Arch    string // family name ("llama", ...)
	Vocab   int
	Dim     int // d_model
	Layers  int
	Heads   int
	KVHeads int
	HeadDim int
	FFN     int // MLP hidden size
	MaxSeq  int // context length the engine allows

	Norm    NormKind
	NormEps float64
	Act     Activation
	Gated   bool // gated MLP: down(act(gate(x))·up(x)); else down(act(up(x)))

	RopeTheta       float64      // rotary base (0: no rotary embeddings)
	RopeLocalTheta  float64      // base for sliding-window layers when it differs (Gemma 3)
	RopeInterleaved bool         // rotate pairs (0,1),(2,3)… (llama2.c and GGUF llama layout); else halves (Hugging Face)
	RopeScaling     *RopeScaling // nil: none; applies to global layers
	RotaryDim       int          // dimensions rotated per head (0: HeadDim)
	PosEmbed        bool         // learned absolute position embeddings (GPT-2)

	EmbedScale   float64 // multiply token embeddings (Gemma: sqrt(Dim)); 0: none
	QueryScale   float64 // multiply q·k; 0: 1/sqrt(HeadDim)
	AttnSoftcap  float64 // 0: none
	FinalSoftcap float64 // 0: none

	SlidingWindow int    // window of sliding layers (0: none)
	Sliding       []bool // per layer: uses the sliding window

	QKVBias bool // biases on the q, k and v projections (Qwen2, GPT-2)
	OutBias bool // bias on the attention output projection (GPT-2)
	MLPBias bool // biases on the MLP projections (GPT-2)

	QKNorm       bool // per-head RMSNorm of q and k (Qwen3, Gemma 3)
	SandwichNorm bool // norms after attention and MLP outputs too (Gemma 2/3)
	Tied         bool // output projection shares the token embedding

	// Conv1DTransposed: GPT-2's Conv1D weights are stored as linear
	// weights [out, in] (GGUF) rather than [in, out] (Hugging Face). Like
	// RopeInterleaved, it describes the stored layout, not the model.
	Conv1DTransposed bool
}

// Validate checks the config for consistency.
func (c *Config) Validate() error {
	switch {
	case c.Vocab <= 0 || c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.FFN <= 0:
		return fmt.Errorf("config: vocab %d, dim %d, layers %d, heads %d and ffn %d must all be positive", c.Vocab, c.Dim, c.Layers, c.Heads, c.FFN)
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("config: %d heads are not a multiple of %d kv heads", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim > maxHeadDim:
		return fmt.Errorf("config: head_dim %d must be 1 to %d", c.HeadDim, maxHeadDim)
	case c.MaxSeq <= 0:
		return fmt.Errorf("config: context length %d must be positive", c.MaxSeq)
	case c.RopeTheta < 0 || c.RopeLocalTheta < 0:
		return fmt.Errorf("config: rope theta %g (local %g) must not be negative", c.RopeTheta, c.RopeLocalTheta)
	case c.RotaryDim%2 != 0 || c.RotaryDim > c.HeadDim:
		return fmt.Errorf("config: rotary dim %d must be even and at most head_dim %d", c.RotaryDim, c.HeadDim)
	case c.Sliding != nil && len(c.Sliding) != c.Layers:
		return fmt.Errorf("config: %d sliding-window flags for %d layers", len(c.Sliding), c.Layers)
	case c.Sliding != nil && c.SlidingWindow <= 0 && slices.Contains(c.Sliding, true):
		return fmt.Errorf("config: sliding-window layers without a window size")
	case c.RopeScaling != nil && c.RopeScaling.Type == "factors" && len(c.RopeScaling.Factors) != c.rotaryDim()/2:
		return fmt.Errorf("config: %d rope frequency factors for %d frequencies", len(c.RopeScaling.Factors), c.rotaryDim()/2)
	case c.RopeScaling != nil && c.RopeScaling.Type != "factors" && c.RopeScaling.Factor <= 0:
		return fmt.Errorf("config: rope scaling factor %g must be positive", c.RopeScaling.Factor)
	}
	if c.RopeTheta > 0 {
		for _, local := range []bool{false, true} {
			for i, f := range c.InvFreq(local) {
				if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
					return fmt.Errorf("config: rope theta %g with scaling %+v gives rotary frequency %d = %g", c.RopeTheta, c.RopeScaling, i, f)
				}
			}
		}
	}
	return nil
}

// maxHeadDim bounds head_dim (real models use 64 to 256).
const maxHeadDim = 1 << 14

func (c *Config) rotaryDim() int {
	if c.RotaryDim == 0 {
		return c.HeadDim
	}
	return c.RotaryDim
}

// InvFreq returns the rotary inverse frequencies of the global (full
// attention) layers, or with local set those of the sliding-window layers,
// after any rope scaling.
func (c *Config) InvFreq(local bool) []float64 {
	if local && c.RopeLocalTheta > 0 {
		return c.invFreq(c.RopeLocalTheta, nil)
	}
	return c.invFreq(c.RopeTheta, c.RopeScaling)
}

// QDim returns Heads·HeadDim, the width of the attention queries.
func (c *Config) QDim() int { return c.Heads * c.HeadDim }

// KVDim returns KVHeads·HeadDim, the width of keys and values.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadDim }

// invFreq returns the rotary inverse frequencies for base theta, rescaled
// when scaling is set.
func (c *Config) invFreq(theta float64, scaling *RopeScaling) []float64 {
	rot := c.rotaryDim()
	inv := make([]float64, rot/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(theta, float64(2*i)/float64(rot))
	}
	if scaling == nil {
		return inv
	}
	switch scaling.Type {
	case "factors":
		for i := range inv {
			inv[i] /= scaling.Factors[i]
		}
	case "linear":
		for i := range inv {
			inv[i] /= scaling.Factor
		}
	case "llama3":
		// Long wavelengths are divided by the factor, short ones kept, the
		// band between interpolated smoothly (Llama 3.1 rope scaling).
		lowWave := float64(scaling.OriginalMaxPos) / scaling.LowFreqFactor
		highWave := float64(scaling.OriginalMaxPos) / scaling.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
			case wave > lowWave:
				inv[i] = f / scaling.Factor
			default:
				smooth := (float64(scaling.OriginalMaxPos)/wave - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor)
				inv[i] = (1-smooth)*f/scaling.Factor + smooth*f
			}
		}
	}
	return inv
}
