// Package stories writes and stores the texts the emotion vectors are
// extracted from: short stories in which a character feels a given emotion,
// and emotionally neutral texts used to denoise the vectors.
//
// Data model. A [Story] is one text with its provenance (emotion, topic,
// index within the (emotion, topic) pair, generator, seed, prompt). Its [Key]
// (kind, emotion, topic, index) determines its ID, and the ID determines its
// train/held-out split ([SplitOf]); so re-running a plan, or reading the file
// elsewhere, gives the same IDs and the same split.
//
// What the model reads. When extracting, the engine runs Prefix+Text and
// averages only positions inside Text (from a token offset on). Prefix is the
// story opening a base model continued (it names the emotion, so it is never
// averaged); for stories written by a chat model or an outside endpoint
// Prefix is empty and Text is the story alone, as in the paper.
//
// Storage. Stories are JSON lines, one object per line, appended in batches
// and fsynced after each batch ([Store]). A crash can only tear the last line;
// [OpenStore] truncates a torn tail and reports the IDs already present, so a
// killed run restarts where it stopped, without duplicates or losses.
//
// Planning. [Spec.Tasks] expands emotions × topics × per-topic count into
// tasks in a fixed order; each task's seed is derived from the plan seed and
// the task's ID, so the same seed gives the same plan and the same per-story
// seeds however the work is resumed or batched.
//
// Prompts. Two styles: [StyleChat] uses the paper's prompts (paraphrased;
// several stories per request, "[story N]" markers, the emotion never named)
// for chat models and OpenAI-compatible endpoints; [StyleBase] gives a base
// model such as stories15M a story opening that sets the character's emotion
// ("... Lily felt very sad.") and keeps its continuation.
//
// Generators implement [Generator]; [OpenAI] talks to any OpenAI-compatible
// /v1/chat/completions endpoint. The engine supplies a Generator for the
// loaded model.
package stories
