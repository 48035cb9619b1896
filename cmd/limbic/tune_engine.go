package main

import (
	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/train"
)

// engineTrainable builds a train.Model from m's weights in the Hugging Face
// layout, whether m is the base model or a full fine-tuning checkpoint
// (--resume loads OUT/checkpoint-STEP as m): both then run in the same
// layout, which a bit-for-bit resume needs (permuted q/k rows would change
// the order of the attention sums).
func engineTrainable(m *model.Model, o tuneModelOptions) (*tuneModel, error) {
	cfg, ts, err := m.HFTensors()
	if err != nil {
		return nil, err
	}
	mo := train.Options{Recompute: o.Recompute}
	if o.LoRA != nil {
		mo.LoRA = &train.LoRAConfig{Rank: o.LoRA.Rank, Alpha: o.LoRA.Alpha, Dropout: o.LoRA.Dropout, Targets: o.LoRA.Targets, Seed: o.LoRA.Seed}
	}
	tm, err := train.New(cfg, ts, mo)
	if err != nil {
		return nil, err
	}
	return &tuneModel{
		Trainable: tm,
		Full: func() (arch.Config, []*tensor.Tensor, error) {
			c, ts := tm.HFTensors()
			return c, ts, nil
		},
		Adapter: func() ([]*tensor.Tensor, error) { return tm.AdapterTensors(), nil },
	}, nil
}
