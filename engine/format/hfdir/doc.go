// Package hfdir reads and writes Hugging Face model directories: a
// config.json, weights in safetensors, and side files such as tokenizer.json.
//
// Conventions:
//   - Weights are found in this order: model.safetensors alone; else the
//     shards named by model.safetensors.index.json ("weight_map": tensor name
//     → shard file); else every *.safetensors file in the directory. Each
//     weight file is opened once and memory-mapped; tensors alias the mapping
//     and must not be used after Dir.Close.
//   - With an index, the index is authoritative: Names lists the tensors of
//     its weight_map, every shard it names must exist and hold the tensors
//     mapped to it. Without one, tensor names must be unique across files.
//   - A Dir is safe for concurrent use, except that Close must not race with
//     other methods.
//   - Names are sorted (a directory has no single header order).
//   - Write builds the directory beside its destination and moves it into
//     place, so readers never see a half-written model; an existing non-empty
//     directory is only replaced when the Overwrite option is given, and then
//     atomically where the system can exchange paths (Linux).
//   - Errors start with "hfdir: " and name the directory or file.
package hfdir
