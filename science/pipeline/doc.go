// Package pipeline connects the engine to the science packages and runs the
// whole emotion-vector pipeline on one model: stories → neutral texts →
// extraction → validation → sanity experiments → report, each step
// resumable from the files it leaves in the run directory:
//
//	stories.jsonl        emotional stories (resumable JSONL)
//	neutral.jsonl        neutral texts
//	extract.ckpt         extraction checkpoint (resume after Ctrl-C)
//	vectors.safetensors  the vector pack (best layer set after validation)
//	heldout.safetensors  per-story means of the held-out stories
//	experiments/*.json   feel, dose and implicit results
//	report.html, report.json
//
// It also holds the engine adapters: Generator (stories.Generator),
// Runner (extract.Runner) and Lens (validate.Unembedder).
package pipeline
