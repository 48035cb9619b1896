// Package e2e holds the end-to-end runs of the emotion-vector pipeline on
// the embedded model (stories15M).
//
// TestHeadline, in the default suite, runs the pipeline at a quarter of
// `limbic run`'s size (about a minute on 2 cores) and asserts the science:
// held-out top-1 and top-5, PC1 sign agreement with the paper's valence and
// the feel experiment, against bounds set from measured figures (see its
// comment). go test -short skips it.
//
// The full-size run is behind the build tag e2e because it takes minutes:
//
//	go test -tags e2e -run TestPipeline -v -timeout 60m ./science/e2e
//
// with E2E_ASSERT set to assert its targets. TestTiny wires every step in
// seconds (plumbing only). LIMBIC_E2E_DIR keeps the outputs (stories,
// report); E2E_TOPICS, E2E_PER_TOPIC, E2E_MAX_TOKENS, E2E_OFFSET, E2E_SHORT,
// E2E_BATCH, E2E_EXTRACT_BATCH and E2E_NEUTRAL_PER_TOPIC size it.
package e2e
