// Package curate scores, selects and balances training corpora by the
// emotions a model reads in them, as the paper proposes for shaping
// training data (calm in the face of failure rather than desperation).
//
// A corpus is JSONL, one document a line: {"text": ...} or {"messages":
// [{"role", "content"}, ...]}; other fields are kept. A Scorer runs each
// document through the model and writes it back with its readout beside it
// under the "limbic" key: per emotion the mean, over the document's tokens
// (after BOS; for a conversation, over its assistant turns only, rendered
// with the model's chat template or chat.Plain), of the cosine with the
// unit emotion vector at one layer's residual stream and, when the pack has
// a neutral baseline, of the z-score against it. Means are rounded to 5
// decimals.
//
// Scoring streams: memory holds one batch of documents, several documents
// share each forward pass, and ScoreFile writes OUT.partial and renames it
// when complete; a partial output is resumed after its last complete line.
// The output does not depend on the batch size or on how the input arrives.
//
// Select keeps the documents for which an Expr holds (for example "calm > 1
// and desperate < 0", over z-scores by default, cosines with MetricCos) and
// balances them with a quota per dominant emotion, and reports the
// corpus' Profile before and after. BuildFailureSets makes the two training
// sets of the curation experiment from the model's own continuations of
// failure openings.
package curate
