// Package experiment runs the paper's sanity experiments on any model with a
// vector pack (Sofroniew et al. 2026, sections 3.3, 3.4 and 3.6; see
// ../../shared notes):
//
//   - Feel: steer each emotion (±strength, on the prompt) before "He felt"
//     / "She felt" (base models) or "Assistant: He feels" (chat models) and
//     measure the change in log-probability of every emotion word as the
//     continuation: the steered emotion's own word should rise when added
//     and fall when subtracted.
//   - Dose: templates where a number varies; an emotion's readout at the
//     last prompt position should move monotonically with it (Spearman ρ).
//   - Implicit: prompts that imply an emotion without naming it, read at the
//     last prompt position; the implied emotion should rank high.
//
// Base models (no chat template, like stories15M) get children's-story
// versions of the prompts; chat models get the paper's. Every experiment
// returns a JSON-ready result.
package experiment
