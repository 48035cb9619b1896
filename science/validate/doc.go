// Package validate measures how well a vector pack captures emotions, with
// the analyses of section 3 of Sofroniew et al. 2026 that need no model run:
// held-out classification, geometry (cosine similarities, PCA, k-means
// against the paper's clusters) and, through an engine-supplied
// [Unembedder], the logit lens. Every analysis is done at every layer of the
// pack, and a best layer is chosen.
//
// Conventions and choices (the paper leaves them open):
//
//   - Classification: a held-out story's mean activation x (same window as
//     extraction) is centred by the pack's centre c (the mean over emotions of
//     the emotion means) and scored against every unit vector: s_e =
//     (x − c)·v̂_e. top-1 / top-5 are the shares of stories whose emotion is
//     the highest-scoring one / among the five highest. Scores without
//     centring (x·v̂_e, what a bare probe reads) are reported as
//     top1_uncentered / top5_uncentered. Ranking by cosine similarity
//     cos(x − c, v_e) gives the same ranking as the projection for a given
//     story (the story's norm is common to all emotions), so it is not
//     reported separately. Denoised vectors are used unless Options.Kind says
//     raw.
//   - Core figures: the analyses repeated on the core emotions present in the
//     run, as if they had been extracted alone: their vectors re-centred on
//     their own mean, the centre moved accordingly, stories of other emotions
//     left out, PCA and k-means over the core vectors only. For a run on the
//     core set this equals the full analysis.
//   - PCA of the vectors: over unit-normalised vectors (direction is what the
//     paper's cosine analyses use), centred. PC1 is oriented so that "happy"
//     is positive (else the first present of joyful, cheerful, delighted,
//     excited, content, calm; else left as computed, and the result says so);
//     PC2 so that "excited" scores above "calm" when both are present, else so
//     that its largest-magnitude coordinate is positive.
//   - Valence: from the paper clusters (catalog): the first five clusters are
//     positive. pc1_sign_agreement is the share of analysed emotions with a
//     paper cluster whose PC1 sign matches that valence (PC1 = 0 disagrees).
//     pc1_valence_spearman is the Spearman correlation between PC1 and minus
//     the cluster's valence rank (ties get average ranks). Emotions outside
//     the paper's 171 have no cluster and are left out of both, and of the
//     k-means comparison.
//   - k-means: on the unit vectors of emotions that have a paper cluster,
//     with k = the number of distinct paper clusters among them (10 for the
//     full list), k-means++ initialisation from Options.Seed, Options.Restarts
//     restarts, lowest inertia kept; compared with the paper's clusters by
//     the adjusted Rand index (1 = identical partitions, about 0 = chance).
//   - A second test set ([Score]): stories the model did not write (the
//     hand-written catalog.Handwritten), classified exactly as above against
//     all the pack's emotions at every layer, reported as
//     Result.Handwritten beside the model-written figures. It does not enter
//     the choice of the best layer.
//   - Best layer: highest held-out top-1 over all the run's emotions; ties go
//     to the layer closest to two-thirds depth, depth(L) = (L+1)/n_layers.
//   - Logit lens: each unit vector through Unembedder (the final norm and the
//     unembedding); the five highest and five lowest tokens. By default only
//     at the best layer (Options.LensAllLayers for every layer): for large
//     vocabularies and many emotions it is the costly step.
package validate
