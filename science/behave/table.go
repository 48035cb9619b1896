package behave

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Table formats a scenario's result as a text table.
func Table(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: rate of %q among gradable rollouts (%d per cell)\n", r.Name, r.Target, r.Rollouts)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "emotion\tstrength\tlayer\tspan\trate\t95% CI\tn\tunclear\t")
	for _, c := range r.Cells {
		rate := "-"
		if c.Rate != nil {
			rate = fmt.Sprintf("%.3f", *c.Rate)
		}
		fmt.Fprintf(tw, "%s\t%+g\t%s\t%s\t%s\t[%.3f, %.3f]\t%d\t%d\t\n", c.Emotion, c.Strength, c.Layer, c.Span, rate, c.CI[0], c.CI[1], c.N, c.Unclear)
	}
	tw.Flush()
	for _, t := range r.Trends {
		fmt.Fprintf(&b, "%s @%s:%s: ", t.Emotion, t.Layer, t.Span)
		if t.Monotone {
			b.WriteString("monotone")
		} else {
			b.WriteString("not monotone")
		}
		if t.Separated {
			b.WriteString(", end intervals apart\n")
		} else {
			b.WriteString(", end intervals overlap\n")
		}
	}
	return b.String()
}
