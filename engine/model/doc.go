// Package model loads models from any supported format into a ready
// engine (weights, tokenizer, chat template) and runs them: batched forward
// passes with hooks, sampling and generation.
//
// Conventions: token ids are int; a prompt's ids include BOS when the
// tokenizer adds one; every random choice comes from a seeded sampler, so the
// same seed gives the same output.
package model
