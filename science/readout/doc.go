// Package readout reads emotion vectors out of a model's residual stream,
// token by token: the projection of each token's activation h on each unit
// emotion vector v̂ (h·v̂), its cosine (h·v̂/‖h‖), and a z-score against the
// pack's neutral baseline ((h·v̂ − neutral mean)/neutral std).
//
// A Reader holds the unit vectors of one layer; its Hook reads rows as the
// engine produces them (for live telemetry), and Read runs a whole text.
// Traces render as JSON, an ANSI-coloured terminal view and a
// self-contained HTML heatmap; colours use a diverging palette scaled, as in
// the paper, by the 99th-percentile magnitude over the trace.
package readout
