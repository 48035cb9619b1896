// Package data turns JSONL training files into the batches limbic tune
// trains on.
//
// Each line of a file is a JSON object with either "text" (a document: loss
// on every token) or "messages" (a conversation, [{"role", "content"}, ...],
// rendered through the model's chat template with loss on the assistant's
// tokens only, as TRL's SFT trainer does). Other fields are ignored; blank
// lines are skipped; anything else is an error naming FILE:LINE and what is
// wrong.
//
// Assistant tokens are found by rendering prefixes of the conversation:
// for assistant message i, the template renders messages[:i] with the
// generation prompt (the text before the reply) and messages[:i+1] (the
// text through the reply and whatever the template puts after it, such as
// an end-of-turn token). Both must be prefixes of the whole conversation's
// text; the reply's span is the text between them. The whole text is
// tokenized once, and a span's token boundaries are where the tokenization
// of each prefix stops agreeing with it (a token straddling the start
// boundary counts as the reply's, one straddling the end does not).
//
// Examples are tokenized as the tokenizer does by default (BOS first when
// the model expects one), optionally followed by EOS, then concatenated in
// file order into one stream and cut into rows of L+1 tokens that overlap
// by one (row k is stream[kL : kL+L+1]), so that every target is trained
// exactly once: Inputs are a row's first L tokens, Targets its last L, with
// -1 where a token carries no loss. Rows are shuffled once per epoch by a
// permutation derived from (seed, epoch) alone, so batch (step, micro) is a
// pure function of the seed and a resumed run sees the same data. The
// validation split takes whole examples, chosen by the seed, before packing.
package data
