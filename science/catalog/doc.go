// Package catalog holds the fixed vocabularies of the emotion-vector method,
// embedded in the binary: the 171 emotion concepts, the 100 story topics, the
// k=10 emotion clusters and the 64 preference activities of Sofroniew et al.
// 2026, "Emotion Concepts and their Function in a Large Language Model"
// (files under data/, transcribed from the paper's appendix), plus limbic's own
// core set of 16 emotions and children's-story topics for small base models
// such as stories15M, and a held-out test set of hand-written children's
// stories that convey an emotion without naming it ([Handwritten]).
//
// Conventions:
//
//   - Emotion names are lower case with single spaces ("at ease", "worn out");
//     [NormalizeEmotion] maps user spellings onto that form.
//   - Clusters come in the paper's valence order (Table 12): rank 0, "Exuberant
//     Joy", is the most positive. The first five clusters (Exuberant Joy through
//     Playful Amusement) have valence +1, the other five -1. That binary split
//     is the sign used by pc1_sign_agreement; the rank is what Spearman
//     correlations compare against.
//   - Every core emotion is itself one of the 171 paper words, so its valence
//     is the valence of its own paper cluster (see [Core]); no substitution is
//     needed. Note that the paper clusters "surprised" and "embarrassed" with
//     Fear and Overwhelm, hence negative, and "proud" with Competitive Pride,
//     hence positive.
//   - Children's topics are clauses that complete "One day, ..."; the
//     placeholder {name} stands for the main character.
//   - User lists (emotions or topics) are plain text, one entry per line;
//     blank lines and "#" comments are ignored ([ParseList]). Unknown emotion
//     names are reported all at once with close matches ([CheckEmotions]).
//
// Accessors return fresh copies; callers may modify them.
package catalog
