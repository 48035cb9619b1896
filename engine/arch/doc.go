// Package arch holds the transformer architectures the engine runs: a
// config-driven decoder (Config, Weights, Model.Forward) shared by every
// family, and one file per family (llama.go, …) that maps its checkpoint
// config and tensor names onto it and registers itself.
//
// Conventions:
//   - Tensor names are bound explicitly from a per-family table of Hugging
//     Face names; readers of other formats (llama2.c, GGUF) rename their
//     tensors to these names. A missing or misshapen tensor is an error that
//     names it.
//   - Activations are float32 [rows, d_model]; weights stay in their stored
//     dtype (see package kernels).
//   - The forward pass reads top to bottom; every residual add has its hook
//     point (see package hook). With no hooks set, hooks cost one nil check.
//   - Model.Forward takes a batch of sequences, each with its own KV cache,
//     new tokens, hooks and logits request; all their rows go through each
//     matrix product together.
package arch
