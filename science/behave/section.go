package behave

import (
	"fmt"

	"github.com/limbic-dev/limbic/science/report"
)

// Section returns the report section of evaluation results: one row per
// cell, coloured by the rate's change from the scenario's baseline, with
// the results as its JSON. The plots (Plot) go beside it.
func Section(results []*Result) report.Section {
	s := report.Section{
		ID:    "behaviour",
		Title: "Behaviour under steering",
		Note: "Rate of each scenario's target label among gradable rollouts (replies graded unclear are left out of n and counted apart), " +
			"with Wilson 95% intervals, for each steering cell (strength: fraction of the mean residual norm).",
		Head: []string{"scenario", "emotion", "strength", "layer", "span", "rate", "95% CI", "n", "unclear"},
		JSON: map[string]any{"scenarios": results},
	}
	for _, r := range results {
		var base *float64
		for _, c := range r.Cells {
			if c.Strength == 0 {
				base = c.Rate
			}
		}
		for _, c := range r.Cells {
			rate, tone := "-", 0.0
			if c.Rate != nil {
				rate = fmt.Sprintf("%.2f", *c.Rate)
				if base != nil {
					tone = *c.Rate - *base
				}
			}
			s.Rows = append(s.Rows, []report.Cell{
				{Text: r.Name}, {Text: c.Emotion}, {Text: fmt.Sprintf("%+g", c.Strength)}, {Text: c.Layer}, {Text: c.Span},
				{Text: rate, Tone: tone}, {Text: fmt.Sprintf("[%.2f, %.2f]", c.CI[0], c.CI[1])},
				{Text: fmt.Sprint(c.N)}, {Text: fmt.Sprint(c.Unclear)},
			})
		}
	}
	return s
}
