// Package extract turns residual-stream activations of emotional stories and
// neutral texts into emotion vectors, following section 2.2 of Sofroniew et
// al. 2026 ("Emotion Concepts and their Function in a Large Language Model").
// It holds the engine-free math (averaging windows, running sums, neutral
// PCA, centering, projection) and a driver ([Run]) that streams stories
// through an engine-supplied [Runner] with bounded memory and checkpoints.
//
// The pipeline, per layer L (hook_resid_post of block L, 0-based):
//
//  1. Story mean: the mean of the story's residual rows over its averaging
//     window ([Window]): token positions from Offset on, counted 0-based from
//     the first token of the story text (a prefix, such as the opening a base
//     model continued, is never averaged). Offset 50 skips the first 50 text
//     tokens, reading the paper's "beginning with the 50th token" as a 0-based
//     index; the paper does not say which. Stories with Offset or fewer text
//     tokens are skipped and counted (policy ShortSkip, the default), or
//     averaged over the last half of their text tokens (ShortTail).
//  2. Emotion mean: the unweighted mean of the story means of the emotion's
//     training stories ([Accumulator], float64 running sums and counts; no
//     activations are kept).
//  3. Centering: subtract the unweighted mean over emotions of the emotion
//     means (each emotion weighs the same however many stories it has).
//     The result is the raw vector; the raw vectors of a layer sum to zero.
//  4. Denoising: the principal components of the neutral texts' activations
//     are computed per token, over the same window as the stories (so that the
//     first tokens, whose norms are often huge "attention sinks", do not
//     dominate), from running float64 moments ([Moments]). The fewest leading
//     components that explain at least Fraction (default 0.5) of the neutral
//     variance are projected out of the raw vectors, giving the denoised
//     vectors. Per-token rather than per-text PCA is a choice (the paper does
//     not say); it targets the token-to-token fluctuations the paper's
//     footnote says the projection removes.
//
// Vectors are stored unnormalised; [Vectors.Unit] gives unit directions
// (probes project on unit directions; steering strengths are fractions of the
// mean residual norm per layer, measured over the averaged tokens of all
// texts read, [NormStats]).
//
// Memory: the emotion sums take n_emotions × n_layers × d × 8 bytes; the
// neutral moments d × d × 8 bytes per layer (d=288: 0.6 MiB; d=4096: 128 MiB
// per layer, twice over while running, since a batch's neutral moments are
// kept apart until the batch completes; for large models restrict the neutral
// layers with Config.NeutralLayers: no float32 or low-rank variant exists
// yet); held-out story means n_heldout × n_layers × d × 4.
//
// Accumulators are order-independent (up to float64 rounding) and mergeable:
// two halves merged equal the whole, which is what makes checkpoints and
// parallel shards safe.
package extract
