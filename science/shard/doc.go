// Package shard selects a deterministic part of a step's work for one of
// several machines: shard I of N, written "I/N" with I from 0 to N−1.
//
// A shard is given by the --shard flag or taken from the scheduler's
// environment (FromEnv): a Slurm job array (SLURM_ARRAY_TASK_ID with
// SLURM_ARRAY_TASK_COUNT, or the array's SLURM_ARRAY_TASK_MIN and
// SLURM_ARRAY_TASK_MAX) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX
// with LIMBIC_SHARD_COUNT, which the manifests limbic writes set, since
// Kubernetes does not expose the completion count to the pod).
//
// Two selections, both functions of the shard and the work alone, never of
// the machine, the time or the order in which shards run, so a restarted
// shard redoes exactly its own part:
//
//   - Owns(key) hashes a unit's stable key (FNV-1a, 64 bits, then a
//     SplitMix64 finalizer) modulo N. Adding or removing units moves no other
//     unit to another shard, so a resumed run whose unit list grew keeps the
//     work already done in place. Use it for independent units with natural
//     keys (a story: emotion, topic, index). Shard sizes are balanced only
//     on average (binomial spread), which matters little when units are many.
//   - Range(n) cuts n units in a canonical order into N contiguous blocks
//     whose sizes differ by at most one. Use it where locality or an exact
//     balance matters (layers, rows of a matrix) and the unit list is fixed.
//
// The zero Shard is invalid; All (0/1) selects everything.
package shard
