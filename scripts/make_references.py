#!/usr/bin/env python3
"""Make tiny random checkpoints of every family limbic supports, with
reference outputs computed by Hugging Face transformers.

    NOT YET RUN. This script was written without a machine that has torch
    and transformers; nothing in testdata/ comes from it yet. The existing
    references in testdata/reference/synthetic/{llama,qwen2,gemma2,gpt2}
    were made separately (see testdata/reference/README.md). Until this
    script has been run and its output checked in, limbic's Mistral, Qwen3
    and Gemma 3 support is unverified against a reference.

For each family it writes, under OUT/<family>/:

  config.json, model.safetensors   a Hugging Face checkpoint, weights in bf16,
                                   vocabulary 256, no tokenizer (feed ids)
  reference-{0,1,2}.safetensors    tokens I32 [T] (T = 7, 23, 61),
                                   logits F32 [T, 256] at every position,
                                   resid.L F32 [T, d] for every block L: the
                                   residual stream leaving block L

— the layout of testdata/reference/synthetic. The outputs are a float64
forward pass of transformers' own modelling code (eager attention) on the
bf16 weights: the checkpoint is saved in bf16, then loaded back in float64.

The configs are chosen to exercise each family's distinctive parts at a
tiny scale: a sliding window (16) shorter than the longest prompt (61) for
Mistral, Gemma 2 and Gemma 3; llama3 rope scaling with a small original
context; head_dim different from hidden_size/heads; Gemma 3's pattern of
one global layer in six with its own rope base and linear scaling.

Gemma's embedding scale is sqrt(hidden_size) computed in the model dtype;
hidden_size 64 makes it 8 exactly in every dtype, so the float64 reference
and an engine that rounds it to bf16 (as transformers does for a bf16 run)
agree.

Optionally (--llama-cpp DIR) each checkpoint is also converted with
llama.cpp's convert_hf_to_gguf.py to model-f32.gguf beside it.

Usage:
    pip install 'torch>=2.3' 'transformers>=4.53' safetensors
    python scripts/make_references.py --out testdata/reference/synthetic-hf
"""

import argparse
import json
import os
import subprocess
import sys

COMMON = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
              pad_token_id=0)

# family -> (model_type, config kwargs)
FAMILIES = {
    "llama": ("llama", dict(COMMON, num_hidden_layers=2, rms_norm_eps=1e-5, rope_theta=500000.0,
                            tie_word_embeddings=False,
                            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 32})),
    "mistral": ("mistral", dict(COMMON, num_hidden_layers=2, head_dim=32, sliding_window=16,
                                rope_theta=1e6, tie_word_embeddings=False)),
    "qwen2": ("qwen2", dict(COMMON, num_hidden_layers=2, rope_theta=1e6, tie_word_embeddings=True,
                            use_sliding_window=False)),
    "qwen3": ("qwen3", dict(COMMON, num_hidden_layers=2, head_dim=32, rope_theta=1e6,
                            tie_word_embeddings=True, attention_bias=False)),
    "gemma2": ("gemma2", dict(COMMON, num_hidden_layers=4, head_dim=32, query_pre_attn_scalar=24,
                              sliding_window=16, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                              hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True)),
    "gemma3": ("gemma3_text", dict(COMMON, num_hidden_layers=7, head_dim=32, query_pre_attn_scalar=24,
                                   sliding_window=16, sliding_window_pattern=6, rope_theta=1e6,
                                   rope_local_base_freq=10000.0,
                                   rope_scaling={"rope_type": "linear", "factor": 8.0},
                                   hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True)),
    "gpt2": ("gpt2", dict(vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_positions=512,
                          layer_norm_epsilon=1e-5, activation_function="gelu_new", tie_word_embeddings=True,
                          bos_token_id=1, eos_token_id=2)),
}

LENGTHS = (7, 23, 61)


def randomize(model, torch, plus_one_norms, seed):
    """Every parameter from one seeded generator, in name order, at scales that keep activations
    near 1 (transformers' own init leaves norms at 1 and logits near 0, which tests little)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            n = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith("bias"):
                v = 0.1 * n
            elif p.dim() == 1:  # norm weights: RMSNorm w, Gemma (1 + w), LayerNorm w
                v = 0.3 * n if plus_one_norms else 1.0 + 0.1 * n
            elif "embed_tokens" in name or name.endswith("wte.weight"):
                v = n
            elif name.endswith("wpe.weight"):
                v = 0.1 * n
            elif ".c_attn." in name or ".c_proj." in name or ".c_fc." in name:
                v = n / (p.shape[0] ** 0.5)  # GPT-2 Conv1D [in, out]
            else:
                v = n / (p.shape[-1] ** 0.5)  # Linear [out, in]
            p.copy_(v)


def decoder_layers(model):
    if hasattr(model, "transformer"):  # GPT-2
        return list(model.transformer.h)
    return list(model.model.layers)


def make(family, out, seed, llama_cpp):
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    model_type, kwargs = FAMILIES[family]
    folder = os.path.join(out, family)
    os.makedirs(folder, exist_ok=True)

    torch.manual_seed(seed)
    config = AutoConfig.for_model(model_type, **kwargs)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", torch_dtype=torch.float32)
    randomize(model, torch, plus_one_norms=family.startswith("gemma"), seed=seed)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    gen = os.path.join(folder, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)

    # The reference: the saved bf16 weights, run in float64.
    ref = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float64, attn_implementation="eager")
    ref.eval()
    captured = {}

    def grab(layer):
        def hook(module, inputs, output):
            captured[layer] = (output[0] if isinstance(output, tuple) else output).detach()
        return hook

    handles = [m.register_forward_hook(grab(i)) for i, m in enumerate(decoder_layers(ref))]
    g = torch.Generator().manual_seed(seed + 1)
    for k, n in enumerate(LENGTHS):
        ids = torch.randint(3, kwargs["vocab_size"], (n,), generator=g)
        ids[0] = 1  # BOS
        captured.clear()
        with torch.no_grad():
            logits = ref(input_ids=ids[None]).logits[0]
        tensors = {"tokens": ids.to(torch.int32), "logits": logits.to(torch.float32).contiguous()}
        for layer, h in sorted(captured.items()):
            tensors[f"resid.{layer}"] = h[0].to(torch.float32).contiguous()
        note = (f"float64 forward of {family} by transformers' modelling code (eager attention) on the bf16 "
                f"weights in model.safetensors; logits at every position; resid.L = residual stream after block L")
        save_file(tensors, os.path.join(folder, f"reference-{k}.safetensors"), metadata={"note": note})
    for h in handles:
        h.remove()

    if llama_cpp:
        subprocess.run([sys.executable, os.path.join(llama_cpp, "convert_hf_to_gguf.py"), folder,
                        "--outtype", "f32", "--outfile", os.path.join(folder, "model-f32.gguf")], check=True)
    print(f"{family}: wrote {folder}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="testdata/reference/synthetic-hf")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--llama-cpp", help="a llama.cpp checkout: also write model-f32.gguf with its converter")
    args = ap.parse_args()
    import torch
    import transformers
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    for fam in args.families.split(","):
        make(fam, args.out, args.seed, args.llama_cpp)
    with open(os.path.join(args.out, "versions.json"), "w") as f:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
