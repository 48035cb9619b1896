// Package e2e holds the end-to-end run of the emotion-vector pipeline on the
// embedded model (stories15M), behind the build tag e2e because it takes
// minutes:
//
//	go test -tags e2e -run TestPipeline -v -timeout 60m ./science/e2e
//
// TestTiny wires every step in seconds (plumbing only). LIMBIC_E2E_DIR keeps the outputs (stories, report); E2E_TOPICS,
// E2E_PER_TOPIC, E2E_MAX_TOKENS, E2E_OFFSET, E2E_SHORT, E2E_BATCH,
// E2E_EXTRACT_BATCH and E2E_NEUTRAL_PER_TOPIC size it. The engine adapters in
// adapters_test.go are a sketch of the glue (base models only, no chat
// template, no logit lens); the product's glue lives elsewhere.
package e2e
