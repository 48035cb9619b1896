// Package chatdata builds the supervised fine-tuning data and the evaluation
// of stories15M-chat (issue 14): dialogues in the paper's "Human: … /
// Assistant: …" format made from a base model's own labelled stories (the
// pipeline's stories.jsonl, read with stories.ReadAll), the chat template
// that renders them ([Template]), and the "How does NAME feel?" evaluation
// ([Feel]).
//
// Three kinds of dialogue, all single-turn (one user message, one assistant
// message):
//
//   - story requests ([KindStory]): the human asks for a story about a
//     character's situation, sometimes naming the feeling; the assistant tells
//     the model's story (opening and continuation, cut at the last full
//     sentence);
//   - feel questions ([KindFeel]): the human gives a story and asks "How does
//     NAME feel?"; the assistant answers "NAME feels EMOTION.". The story
//     shown is the opening without its last sentence (the one that names the
//     emotion, "Max felt happy because") followed by the continuation; a
//     story whose shown text contains any word of catalog.EmotionWords is
//     dropped, so the model must infer the emotion rather than copy a word;
//   - neutral exchanges ([KindNeutral]): greetings and simple questions with
//     simple answers, in the register of a children's-story model.
//
// Conventions: [Build] is seeded and byte-deterministic: the stories are
// sorted by ID first, so the order of the input file does not matter, and
// every random choice is drawn from the seed. The held-out stories (a seeded
// fraction) give no training dialogue of any kind; their feel questions are
// the evaluation items ([Set.HeldOutItems]) and their dialogues the
// validation set ([Set.HeldOut]). JSONL lines are exactly
// {"messages":[{"role":…,"content":…},…]}, the format `limbic tune` reads.
package chatdata
