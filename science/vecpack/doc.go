// Package vecpack defines the vector pack, the file a `limbic extract` run
// produces: the emotion vectors of one model at every extracted layer, with
// the metadata needed to use them safely (which model, which layers, how they
// were made) and the statistics needed to read them out (neutral projection
// mean and spread for z-scores, the mean residual norm for steering).
//
// File layout: one safetensors file. Tensors, for each extracted model layer
// L (0-based, the hook point blocks.L.hook_resid_post):
//
//	raw.L                    F32 [n_emotions, d]  centred emotion means
//	denoised.L               F32 [n_emotions, d]  raw with the neutral PCs projected out
//	                                              (equal to raw when denoising is off)
//	center.L                 F32 [d]              the mean over emotions that was subtracted
//	neutral_mean.raw.L       F32 [n_emotions]     mean of h·v̂ over neutral tokens
//	neutral_std.raw.L        F32 [n_emotions]     its standard deviation
//	neutral_mean.denoised.L  F32 [n_emotions]
//	neutral_std.denoised.L   F32 [n_emotions]
//
// (the neutral_* tensors are absent for layers without neutral statistics).
// The metadata is JSON ([Meta]) stored as the string value of the key
// "limbic" in the safetensors __metadata__; [Pack.MetaJSON] gives it for a
// sidecar or for printing.
//
// Conventions: emotion rows follow Meta.Emotions; vectors are stored
// unnormalised and [Pack.Unit] normalises; v̂ is the unit vector; a z-score of
// an activation h is (h·v̂ − neutral_mean) / neutral_std. Model identity is the
// SHA-256 of the weights file(s) ([ModelInfo]); [Pack.CheckModel] refuses a
// pack made for another model or width with an error naming both.
//
// A second artefact, [HeldOut], holds the per-story mean activations of the
// held-out stories used by validation (tensors means.L [n_stories, d] and
// labels I32 [n_stories]).
//
// File reading and writing use engine/format/safetensors (io.go): Write,
// Read, WriteHeldOut, ReadHeldOut.
package vecpack
