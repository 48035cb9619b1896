// Package telemetry watches a model while it generates one sequence: the
// emotion readout at every position, the alert rules of serve/monitor
// evaluated token by token over it, and the rules' actions. A stop rule ends
// the sequence; a regulate rule adds its counter-steer as a steering hook
// over the positions of its lease.
//
// A Monitor holds what all sequences share (the vector pack's readers, the
// rule set, the regulate vectors); Monitor.NewSequence adds one sequence's
// hooks to its hook set and returns the Sequence that evaluates them. The
// package has no HTTP: the server (serve/api), `limbic generate --rules`
// and anything else that watches a model use it the same way.
//
// Conventions. Positions are absolute and 0-based. The readout at position
// p is the residual stream of the token at p; the token sampled from p is
// the one at p+1. Sequence.Advance(p) is called once per sampled token, with
// p the position it was sampled from, on the goroutine that runs the
// forward passes (the hooks and Advance share state without locks).
package telemetry
