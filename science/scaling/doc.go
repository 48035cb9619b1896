// Package scaling is the data-scaling study of `limbic experiment scaling`:
// how the quality of the emotion vectors of a base model depends on how the
// stories are made and read, scored on two held-out sets — the model's own
// stories (one story per emotion and topic kept out of every training set)
// and stories the model did not write (catalog.Handwritten).
//
// The study generates a few pools of stories once (resumable JSONL stores
// under its directory), reads every story through the model once, keeping
// per story and layer the mean activation over each window it studies, and
// then evaluates many settings cheaply from those means:
//
//   - stories per emotion (the "n" axis): 32, 64, ... per emotion from the
//     main pool (MaxTokens 40, the default openings);
//   - continuation length (the "length" axis): the first 20, 30, 40, 80,
//     120, 160 tokens of the long pool's stories (generated to 160 tokens;
//     the first N tokens of a story sampled to 160 are a story sampled to
//     N), and every size at the lengths below the main pool's own (the
//     "n×length" grid, from the main pool);
//   - opening variety (the "openings" axis): pools written from the other
//     opening sets of stories.OpeningSet;
//   - the token offset where averaging starts, and the share of neutral
//     variance projected out;
//   - the layer: every read layer, and the mean over the middle third of
//     the layers (a pseudo-layer, reported as "mid");
//   - the probe: a regularised logistic-regression direction per emotion
//     (science/probe) beside the paper's difference of means.
//
// The best setting ("best") is ranked as a user should rank: settings that
// read the same model-written held-out set (sizes at one length, the
// denoising) by the mean of both sets' top-1; settings that change it (a
// shorter story is an easier test) by the hand-written set alone.
//
// Every setting's vectors are built exactly as extraction builds them
// (extract.Build: centred emotion means, neutral PCs projected out) and
// scored as `limbic validate` scores them (validate.Run, validate.Score).
// Its time is estimated from the rates measured while the pools were made
// (generated tokens per second, read tokens per second): the time `limbic
// run` would take to make and read that setting's stories.
package scaling
