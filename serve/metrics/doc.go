// Package metrics holds the Prometheus metrics of limbic serve in a registry
// of their own (nothing is registered globally), served by Handler:
//
//	limbic_requests_total{endpoint,code}          counter
//	limbic_request_duration_seconds{endpoint}     histogram
//	limbic_tokens_generated_total                 counter
//	limbic_prompt_tokens_total                    counter
//	limbic_decode_tokens_per_second               gauge (moving average over decode steps)
//	limbic_decode_step_seconds                    histogram
//	limbic_queue_depth                            gauge
//	limbic_active_sequences                       gauge
//	limbic_readout{emotion}                       histogram of z-scores (ZBuckets)
//	limbic_alerts_total{rule,state}               counter
//	limbic_webhook_deliveries_total{result}       counter (delivered, failed, abandoned)
//	limbic_store_errors_total{op}                 counter
//
// plus the Go runtime and process collectors unless Options.NoRuntime.
// Label values must have bounded cardinality: endpoints are route patterns,
// emotions are limited by Options.ReadoutEmotions, rules come from the rules
// file.
package metrics
