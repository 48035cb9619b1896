// Package behave runs behaviour evaluations under steering sweeps: a
// scenario (a chat conversation or a story prefix, sampling settings, a
// grader and a sweep of emotions × strengths × layers × token spans) is
// rolled out many times per cell through the model's continuous batcher,
// each reply is graded into a label, and each cell reports the rate of the
// scenario's target label with a Wilson 95% interval.
//
// Conventions:
//   - Strengths are fractions of the mean residual norm at the steered layer
//     (package steer); strength 0 is the unsteered baseline, generated once
//     and shown on every emotion's line.
//   - A rollout's seed is derived from the scenario seed, its cell and its
//     index, so any rollout can be regenerated alone and a resumed sweep
//     gives the same rollouts as an uninterrupted one.
//   - Rollouts are appended to a JSONL file keyed by (cell, index); a sweep
//     reads the file first and generates only what is missing. A torn last
//     line (a killed writer) is dropped.
//   - The rate of a cell is target / gradable, where gradable excludes
//     replies graded "unclear"; n is the gradable count and the unclear
//     count is reported beside it.
//   - Rule graders are re-applied to stored replies when a file is read, so
//     a changed rule regrades without regenerating; judge labels are kept.
package behave
