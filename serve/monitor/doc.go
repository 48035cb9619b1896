// Package monitor is the alert rule engine of limbic serve: rules over the
// per-token emotion readouts of a sequence, evaluated deterministically,
// token by token, with no clock in the logic; and the webhook notifier that
// delivers alerts.
//
// # Rules
//
// A Rule watches one readout (emotion, layer, statistic: z, proj or cos;
// over training checkpoints also dz, dproj or dcos, the change since the
// first checkpoint) smoothed by a moving average over its last Window in-scope tokens, and
// compares it with Threshold in the direction Op (> or <). Rules are loaded
// from YAML or JSON (LoadRules, ParseRules): a list, or {rules: [...]};
// unknown fields are errors and every error names the rule and the field.
// DefaultRules are the paper's proposed signals (desperate high, calm low,
// angry high, afraid high) with thresholds to tune. Validate checks the
// emotion names against a vector pack.
//
// # States
//
// Rule semantics follow Prometheus alerting, with time counted in observed
// in-scope tokens (generated tokens only unless scope is "all"; tokens whose
// readout is missing do not count):
//
//	inactive --past threshold--> pending   (event "pending"; for: 0 goes straight to firing)
//	pending  --not past-->       inactive  (event "inactive")
//	pending  --held for: tokens--> firing  (event "firing": the action applies)
//	firing   --back at clear-->  inactive  (event "resolved", reason "cleared")
//
// "Past" is strict (> or <); a firing alert resolves when the smoothed value
// is at or back past Clear (hysteresis: fire above 3, resolve at or below 2,
// so a signal hovering around 3 does not flap). A rule is not evaluated until
// its window is full. Evaluator.Finish resolves what is still firing (reason
// "ended").
//
// # Actions
//
// Every event is meant to be recorded. Webhook rules are POSTed on firing and
// resolved (Event.Notify). A stop rule's firing event asks the server to end
// the generation (Event.Stop, Evaluator.Stopped). A regulate rule applies its
// counter-steer (e.g. calm=0.05) to the next action.tokens positions after the
// token that fired: Evaluator.Steers(pos) lists the steers to apply at pos.
// When the last leased token is observed and the rule still fires, the lease
// is renewed for another action.tokens tokens (event "renewed"); when the rule
// resolves, the steer stops after the resolving token. Regulation reports the
// effect: the mean raw signal while the condition built up (Before) against
// the mean over the regulated tokens (During).
//
// # Scenario tests
//
// testdata/scenarios/*.yaml hold rules, a readout trace and the expected
// events in order; TestScenarios runs them all (see scenario_test.go for the
// format).
package monitor
