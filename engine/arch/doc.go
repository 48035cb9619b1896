// Package arch holds the transformer architectures the engine runs: a
// config-driven decoder (Config, Weights, Transformer.Forward) shared by every
// family, and one file per family that maps its checkpoint config and
// tensor names onto it and registers itself:
//
//	llama.go    Llama 2/3/3.1/3.2 (llama3 rope scaling), SmolLM, SmolLM2
//	mistral.go  Mistral (optional sliding window on every layer)
//	qwen2.go    Qwen2, Qwen2.5 (q/k/v biases)
//	qwen3.go    Qwen3 (per-head q/k RMSNorm, head_dim from the config)
//	gemma2.go   Gemma 2 ((1+w) norms, four per block, soft-capping, sliding window on even layers)
//	gemma3.go   Gemma 3 (text; q/k norms, local/global rope bases; text-only and multimodal checkpoints)
//	gpt2.go     GPT-2 (LayerNorm, learned positions, fused Conv1D attention)
//
// Shared building blocks (blocks.go) read the config fields Llama-style
// decoders share, bind their tensors and write their config.json back;
// gguf.go holds how llama.cpp stores each family (GGUFSpec: architecture
// name, tensor names, layout, metadata).
//
// Conventions:
//   - Tensor names are bound explicitly from a per-family table of Hugging
//     Face names; readers of other formats (llama2.c, GGUF) rename their
//     tensors to these names. A missing or misshapen tensor is an error that
//     names it. Transformer.Bound records what was bound, under canonical names.
//   - Config describes the model and, in three flags, the stored layout of
//     its tensors where formats differ: RopeInterleaved (q/k rows for
//     interleaved rope pairs: llama2.c, GGUF llama), Norm RMSNorm for
//     Gemma's norms stored as 1+w (GGUF), Conv1DTransposed (GPT-2 in GGUF).
//     The engine runs every layout as stored, without copies; HFLayout
//     converts back.
//   - Activations are float32 [rows, d_model]; weights stay in their stored
//     dtype (see package kernels).
//   - The forward pass reads top to bottom; every residual add has its hook
//     point (see package hook). With no hooks set, hooks cost one nil check.
//   - Transformer.Forward takes a batch of sequences, each with its own KV cache,
//     new tokens, hooks and logits request; all their rows go through each
//     matrix product together.
//   - An unknown model_type or GGUF architecture is an error that lists the
//     supported ones.
package arch
