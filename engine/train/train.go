// Package train fine-tunes llama-family transformers: a backward pass over
// the engine's blocks (Model), AdamW with clipping and a learning-rate
// schedule, and the training loop that limbic tune runs, with checkpoints
// written as Hugging Face directories.
//
// The pieces meet at three types: a Param is one trainable tensor with its
// gradient, a Batch is rows of input and target tokens, and a Trainable is
// anything that can turn a Batch into a loss and gradients (the engine's
// Model; a toy model in tests).
package train

// Param is one trainable tensor, its f32 master weights and its gradient.
type Param struct {
	// Name is the tensor's Hugging Face name
	// ("model.layers.0.self_attn.q_proj.weight"), or PEFT's name for a LoRA
	// matrix ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").
	Name  string
	Shape []int
	Data  []float32 // row-major weights
	Grad  []float32 // accumulated gradient, len(Data)
	Decay bool      // weight decay applies (matrices; not norm weights)
}

// Batch is rows of tokens to train on. Inputs[i] and Targets[i] have the
// same length; Targets[i][j] is the token that should follow
// Inputs[i][:j+1], or -1 where no loss is taken. Every row starts at
// position 0.
type Batch struct {
	Inputs, Targets [][]int
}

// Count counts the positions of b that carry a loss.
func (b Batch) Count() int {
	n := 0
	for _, row := range b.Targets {
		for _, t := range row {
			if t >= 0 {
				n++
			}
		}
	}
	return n
}

// Trainable is a model the training loop can fit.
type Trainable interface {
	// Params returns the trainable tensors, always in the same order.
	Params() []*Param
	// Accumulate runs b forward and backward and adds scale times the
	// gradient of the summed cross-entropy over b's targets to every
	// Param's Grad. It returns the summed cross-entropy (natural log) and
	// the number of targets. seed drives any randomness (LoRA dropout), so
	// a step can be replayed exactly.
	Accumulate(b Batch, scale float64, seed uint64) (sum float64, n int, err error)
	// Loss runs b forward only (no dropout) and returns the summed
	// cross-entropy and the number of targets.
	Loss(b Batch) (sum float64, n int, err error)
}
