// Package compare reads one emotion-vector pack on two models of the same
// shape — typically a base model and its post-trained (chat) fine-tune — over
// one prompt set, as in the paper's post-training analysis.
//
// Conventions: every prompt is read at the position before the reply: the
// last token of the prompt rendered through the chat template with the
// generation prompt (the "Assistant:" colon or the header's end) for a model
// with a chat template, and the last token of a "Human: …\n\nAssistant:"
// transcript for a base model, each model with its own protocol. The
// readout is the cosine between an emotion's unit vector (at one pack layer,
// hook_resid_post) and the residual activation there, averaged over
// prompts: a and b are those means on model A and model B, diff = b − a.
// r_profiles is the Pearson correlation of the two models' per-emotion
// means; r_change the correlation, over emotions, of the change vector
// (b − a) on the neutral prompts with the one on the challenging prompts.
//
// The two models must share a tokenizer (same vocabulary, token by token),
// a width and a depth; Compatible says why not.
package compare
