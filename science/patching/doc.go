// Package patching implements activation patching, the standard causal
// sweep of the TransformerLens tutorials: run a clean and a corrupted prompt
// of the same length, then, for each layer and position, rerun the corrupted
// prompt with the clean activation written over one hook point at one
// position, and measure how much of the clean behaviour it restores.
//
// The metric is a logit difference at the last position, logit(A) −
// logit(B). Each cell reports the patched metric and its normalised form
// (patched − corrupt) / (clean − corrupt): 0 where the patch changes
// nothing, 1 where it restores the clean value.
package patching
