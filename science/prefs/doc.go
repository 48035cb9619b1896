// Package prefs runs the paper's preference experiment: which activities a
// model prefers, whether emotion readouts on an activity predict it, and
// whether steering an emotion on the activity's tokens moves it.
//
// # Protocols
//
// Chat models (a chat template): for every ordered pair of activities (a, b),
// the user turn "Would you prefer to (A) {a} or (B) {b}?" is rendered with the
// model's chat template and the assistant's turn is prefilled with "("; the
// preference for a is the softmax over the two options' continuations, "A"
// and "B" (their logits when each is one token, as in the paper, else their
// total log-probabilities).
//
// Base models (no template): a story-choice analogue,
// "{name} could {a} or {b}. {name} chose to", and the total log-probability
// of each option's tokens as the continuation (" {a}" against " {b}"), the
// softmax of the two being the preference for a. Both orders of every pair
// are run, and each character name; a pair's outcome is the mean over names.
//
// # Statistics
//
// Elo per activity from the soft outcomes, fitted as a Bradley–Terry model by
// maximum likelihood (FitBT: deterministic, independent of the order of the
// outcomes) and reported on the Elo scale, 1500 + 400·log10(odds); a hard
// variant fits the same model to wins (P > 0.5). 95% intervals come from a
// bootstrap over unordered pairs. The position bias is the mean probability
// of choosing the option offered first, minus one half.
//
// Readout: each emotion's score (z against the pack's neutral baseline when
// it has one, else the projection on the unit vector) on the activity's own
// tokens of "How would you feel about {activity}?" (chat) or
// "{name} was going to {activity}." (base), averaged over the tokens and the
// middle layers; its Pearson r with Elo across activities, with a
// permutation p-value.
//
// Causal test: the activities are split in two halves (seeded); an emotion is
// steered at a strength (a fraction of the mean residual norm, 0.5 as in the
// paper) at the middle layers, only on the token positions of the steered
// half's activities, wherever they appear in a prompt; all pairs are run
// again; ΔElo is the mean change of the steered half's Elo from the unsteered
// run, with a paired bootstrap interval; and the correlation of ΔElo with r
// is taken over the emotions tested (the paper: 0.85 over 35 emotions).
//
// # Cost
//
// The prompts of a first option share their tokens up to the second option:
// that prefix runs once, and every comparison branches from a copy of its
// key/value cache (arch.Cache.Clone); the branches run batched.
package prefs
