// Package trainwatch follows a training run's output directory and reads
// emotion vectors out of each checkpoint as it becomes complete: the
// paper's proposal to monitor emotion representations during training as
// well as deployment (limbic watch).
//
// # Checkpoints
//
// A run directory holds checkpoint-STEP/ directories, as Hugging Face's
// Trainer and limbic tune write them: full weights (config.json and
// model.safetensors, or model.safetensors.index.json and every shard it
// names) or a PEFT LoRA adapter (adapter_config.json and
// adapter_model.safetensors) over a base model. Scan lists the complete ones.
// A checkpoint is complete only when every file exists, every JSON file
// parses, every safetensors file's header is whole and its data ends exactly
// at the end of the file, and the trainer's completion marker
// trainer_state.json (which the Trainer writes after the weights) is there.
// limbic tune writes a checkpoint in a temporary directory and renames it
// into place, so its checkpoints appear complete at once; the checks cover
// writers that do not. A checkpoint whose files change while it is read, or
// that fails to load, is torn: it is retried on a later pass and never
// recorded.
//
// # Evaluation
//
// Each complete checkpoint is evaluated once on a fixed probe set (prompts
// given as the user turn for a model with a chat template, story openings
// for a base model; DefaultProbes ships both) read with a fixed vector pack,
// by default the base model's: per emotion, the mean over the probes of the
// cosine, projection and z-score of the residual at the last prompt token
// (the position before the reply), and optionally the mean next-token cross
// entropy on a held-out text file. The change since the first evaluated
// checkpoint (the baseline) is derived from the stored results.
//
// # State
//
// Results and alerts live in a SQLite database (DB; by default watch.db in
// the run directory), each checkpoint's result with its alerts in one
// transaction, so a checkpoint is evaluated exactly once across restarts of
// the watcher. The database remembers what it measured (pack, probes,
// layers); a watcher with other settings refuses it rather than mix series.
//
// # Alerts
//
// Rules are serve/monitor's rules evaluated over checkpoints instead of
// tokens: the position is the step, for: and window count checkpoints, and
// the stats dz, dproj and dcos are the changes since the baseline. Every
// event is stored before a webhook is sent; deliveries left pending by a
// crash are sent on the next start. On start the stored history is replayed
// through the rules so that pending and firing states survive restarts.
package trainwatch
