package prefs

import (
	"fmt"

	"github.com/limbic-dev/limbic/science/report"
)

// Sections returns the report sections of a result: the Elo table, and with
// a pack the readout correlations and the causal test.
func Sections(r *Result) []report.Section {
	elo := report.Section{ID: "prefs", Title: "Preferences: Elo of activities", JSON: r,
		Note: fmt.Sprintf("%s protocol, %d comparisons (every ordered pair). Elo from a Bradley–Terry fit of the soft preferences (1500 + 400·log10 odds), "+
			"the hard variant from wins; 95%% intervals from %s. Position bias (mean P(first option) − 0.5): %+.3f.",
			r.Protocol, r.Comparisons, "a bootstrap over pairs", r.PositionBias),
		Head: []string{"activity", "Elo", "95% interval", "hard Elo"}}
	for _, a := range r.SortedElo() {
		ci := r.EloCI[a]
		elo.Rows = append(elo.Rows, []report.Cell{{Text: a}, {Text: fmt.Sprintf("%.0f", r.Elo[a]), Tone: (r.Elo[a] - EloBase) / 600},
			{Text: fmt.Sprintf("[%.0f, %.0f]", ci[0], ci[1])}, {Text: fmt.Sprintf("%.0f", r.HardElo[a])}})
	}
	// The Elo of every activity, best first, with its interval.
	var acts []string
	bar := report.BarSeries{Name: "Elo"}
	for _, a := range r.SortedElo() {
		acts = append(acts, a)
		bar.Y = append(bar.Y, r.Elo[a])
		bar.Lo = append(bar.Lo, r.EloCI[a][0])
		bar.Hi = append(bar.Hi, r.EloCI[a][1])
	}
	elo.Figure = report.BarChart{Title: "Elo by activity (95% bootstrap intervals)", YLabel: "Elo", Groups: acts, Series: []report.BarSeries{bar}}.SVG()
	out := []report.Section{elo}
	if len(r.Emotions) == 0 {
		return out
	}
	note := fmt.Sprintf("Each emotion's readout (%s, layers %v) on the activity's own tokens, against Elo across activities: Pearson r with a permutation p-value.", r.Metric, r.Layers)
	head := []string{"emotion", "r", "p"}
	if r.Strength != 0 {
		note += fmt.Sprintf(" Causal test: the emotion steered at %g (fraction of the mean residual norm) on layers %v, only on the tokens of %d activities (a seeded half), all pairs run again; ΔElo is the steered half's mean Elo change, with a paired bootstrap 95%% interval.",
			r.Strength, r.SteerLayers, len(r.Steered))
		if r.RDeltaCorr != nil {
			note += fmt.Sprintf(" Correlation of ΔElo with r over the emotions: %+.2f (the paper: 0.85 over 35 emotions).", *r.RDeltaCorr)
		}
		head = append(head, "ΔElo", "95% interval")
	}
	emo := report.Section{ID: "prefs-emotions", Title: "Preferences: emotion readouts and causal steering", Note: note, Head: head}
	var names []string
	rs := report.BarSeries{Name: "r with Elo"}
	ds := report.BarSeries{Name: "ΔElo / 100"}
	causal := false
	for _, e := range r.Emotions {
		names = append(names, e.Emotion)
		rs.Y = append(rs.Y, e.R)
		if e.DeltaElo != nil {
			causal = true
			ds.Y = append(ds.Y, *e.DeltaElo/100)
			ds.Lo = append(ds.Lo, e.DeltaEloCI[0]/100)
			ds.Hi = append(ds.Hi, e.DeltaEloCI[1]/100)
		}
	}
	series := []report.BarSeries{rs}
	if causal && len(ds.Y) == len(names) {
		series = append(series, ds)
	}
	emo.Figure = report.BarChart{Title: "Readout correlation with Elo, and ΔElo when steered (95% intervals)", Groups: names, Series: series}.SVG()
	for _, e := range r.Emotions {
		row := []report.Cell{{Text: e.Emotion}, {Text: fmt.Sprintf("%+.2f", e.R), Tone: e.R}, {Text: fmt.Sprintf("%.4f", e.P)}}
		if e.DeltaElo != nil {
			tone := 0.0
			if e.DeltaEloCI[0] > 0 || e.DeltaEloCI[1] < 0 {
				tone = *e.DeltaElo / 60
			}
			row = append(row, report.Cell{Text: fmt.Sprintf("%+.1f", *e.DeltaElo), Tone: tone},
				report.Cell{Text: fmt.Sprintf("[%+.1f, %+.1f]", e.DeltaEloCI[0], e.DeltaEloCI[1])})
		}
		emo.Rows = append(emo.Rows, row)
	}
	return append(out, emo)
}
