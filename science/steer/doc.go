// Package steer turns steering instructions into engine hooks.
//
// A Spec is data (JSON in the API, a flag on the CLI):
//
//	EMOTION=STRENGTH[@LAYERS][:SPAN]
//
// STRENGTH is a fraction of the mean residual-stream norm at each steered
// layer (the paper's convention: 0.5 for preference steering, ±0.1 for
// behaviour); the added vector is STRENGTH · mean‖h_L‖ · v̂_L, with v̂_L the
// unit emotion vector of layer L. LAYERS is one layer "8" ("-1" counts from
// the end) or an inclusive range "6-9"; the default is the pack's best
// layer. SPAN selects the token positions: "all" (default), "prompt",
// "generated", or position ranges "0-5,9-12" (inclusive, 0-based, counted
// from the start of the sequence, BOS included).
//
// Vectors are added at blocks.L.hook_resid_post, which is where llama.cpp
// adds its control vectors (direction.L, see package ctrlvec).
package steer
