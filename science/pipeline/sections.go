package pipeline

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/limbic-dev/limbic/science/experiment"
	"github.com/limbic-dev/limbic/science/report"
)

// Version is limbic's version, recorded in the reports Report writes; the
// command sets it from its build version.
var Version = "dev"

// Sections turns experiment results into report sections (nil results are
// left out).
func Sections(feel *experiment.FeelResult, dose *experiment.DoseResult, imp *experiment.ImplicitResult) []report.Section {
	var out []report.Section
	if feel != nil {
		s := report.Section{ID: "feel", Title: "Steering check: “He felt / She felt”", JSON: feel,
			Note: fmt.Sprintf("Each emotion steered at ±%g × the mean residual norm on layers %v, on the prompt tokens only; Δ log-probability of the emotion's own word as the continuation of %s (mean over the prompts; the figure's whiskers span the lowest to the highest prompt). Own word rises when added for %.0f%% of the emotions and falls when subtracted for %.0f%%.",
				feel.Strength, feel.Layers, promptNames(feel.Prompts), 100*feel.RaiseRate, 100*feel.LowerRate),
			Head:   []string{"emotion", "Δ own word (+)", "Δ own word (−)", "rank of own word among risers", "word that rose most (+)"},
			Figure: feelFigure(feel)}
		for i, e := range feel.Emotions {
			best, bi := feel.Plus[i][0], 0
			for w, v := range feel.Plus[i] {
				if v > best {
					best, bi = v, w
				}
			}
			s.Rows = append(s.Rows, []report.Cell{{Text: e}, num(feel.Plus[i][i], 2), num(feel.Minus[i][i], 2),
				{Text: fmt.Sprint(feel.DiagonalRank[i] + 1)}, {Text: fmt.Sprintf("%s (%+.2f)", feel.Emotions[bi], best)}})
		}
		out = append(out, s)
	}
	if dose != nil {
		s := report.Section{ID: "dose", Title: "Dose curves", JSON: dose,
			Note: fmt.Sprintf("Templates where a number varies; the emotion's readout (%s, layer %d) at the last prompt position against the number; the line is the mean over the character names, the band spans the lowest to the highest name's readout. %d of %d templates are monotone in the expected direction (Spearman |ρ| ≥ 0.8).",
				dose.Metric, dose.Layer, dose.Monotone, len(dose.Templates)),
			Head:   []string{"template", "emotion", "expected", "Spearman ρ", "readouts (low → high number)"},
			Figure: doseFigure(dose)}
		for _, t := range dose.Templates {
			var rs []string
			for _, v := range t.Readout {
				rs = append(rs, fmt.Sprintf("%.2f", v))
			}
			tone := 0.0
			if t.Monotone {
				tone = 0.6
			}
			rho := "undefined" // the readout is the same at every value
			if t.Spearman != nil {
				rho = fmt.Sprintf("%+.2f", *t.Spearman)
			}
			s.Rows = append(s.Rows, []report.Cell{{Text: t.Name + ": " + t.Text}, {Text: t.Emotion}, {Text: fmt.Sprintf("%+d", t.ExpectedSign)},
				{Text: rho, Tone: tone}, {Text: strings.Join(rs, " ")}})
		}
		out = append(out, s)
	}
	if imp != nil {
		s := report.Section{ID: "implicit", Title: "Implicit prompts", JSON: imp,
			Note: fmt.Sprintf("Prompts that imply an emotion without naming it, read at the last prompt position (%s, layer %d). The implied emotion ranks first for %.0f%% and in the top 3 for %.0f%% of %d prompts.",
				imp.Metric, imp.Layer, 100*imp.Top1, 100*imp.Top3, len(imp.Items)),
			Head: []string{"implied", "prompt", "rank", "top 3"}}
		for _, it := range imp.Items {
			var top []string
			for _, r := range it.Top {
				top = append(top, fmt.Sprintf("%s %.2f", r.Emotion, r.Score))
			}
			tone := 0.0
			if it.Rank == 0 {
				tone = 0.6
			}
			s.Rows = append(s.Rows, []report.Cell{{Text: it.Emotion}, {Text: it.Text}, {Text: fmt.Sprint(it.Rank + 1), Tone: tone}, {Text: strings.Join(top, ", ")}})
		}
		out = append(out, s)
	}
	return out
}

func num(v float64, scale float64) report.Cell {
	return report.Cell{Text: fmt.Sprintf("%+.3f", v), Tone: v / scale}
}

func promptNames(ps []experiment.FeelPrompt) string {
	var s []string
	for _, p := range ps {
		s = append(s, "“"+p.Text+"”")
	}
	return strings.Join(s, " and ")
}

// feelFigure draws the own word's change per emotion when the emotion is
// added (raise, +) and subtracted (lower, −): bars at the mean over the
// prompts, whiskers from the lowest to the highest prompt's value.
func feelFigure(f *experiment.FeelResult) template.HTML {
	c := report.BarChart{Title: "Own word's Δ log-probability, bars: mean over prompts, whiskers: min–max over prompts",
		YLabel: "Δ log p(own word)", Groups: f.Emotions}
	raise := report.BarSeries{Name: "added (+)", Color: "#d62728"}
	lower := report.BarSeries{Name: "subtracted (−)", Color: "#1f77b4"}
	whiskers := len(f.OwnPlus) == len(f.Emotions) && len(f.OwnMinus) == len(f.Emotions)
	for i := range f.Emotions {
		if i >= len(f.Plus) || i >= len(f.Minus) || i >= len(f.Plus[i]) || i >= len(f.Minus[i]) {
			return "" // a malformed result: no figure rather than a wrong one
		}
		raise.Y, lower.Y = append(raise.Y, f.Plus[i][i]), append(lower.Y, f.Minus[i][i])
		if whiskers {
			lo, hi := spread(f.OwnPlus[i])
			raise.Lo, raise.Hi = append(raise.Lo, lo), append(raise.Hi, hi)
			lo, hi = spread(f.OwnMinus[i])
			lower.Lo, lower.Hi = append(lower.Lo, lo), append(lower.Hi, hi)
		}
	}
	c.Series = []report.BarSeries{raise, lower}
	return c.SVG()
}

// doseFigure draws one small chart per template: the readout (mean over the
// character names) against the number, with the band from the lowest to the
// highest name's readout.
func doseFigure(d *experiment.DoseResult) template.HTML {
	var figs []template.HTML
	for _, t := range d.Templates {
		se := report.Series{Name: t.Emotion, Y: t.Readout, Color: "#d62728"}
		if len(t.ByName) == len(t.Readout) {
			for _, per := range t.ByName {
				lo, hi := spread(per)
				se.Lo, se.Hi = append(se.Lo, lo), append(se.Hi, hi)
			}
		}
		xl := "number"
		if t.Graded {
			xl = "graded word"
		}
		c := report.LineChart{Title: fmt.Sprintf("%s: %s (expected %+d)", t.Name, t.Emotion, t.ExpectedSign),
			XLabel: xl, YLabel: fmt.Sprintf("%s readout (%s)", t.Emotion, d.Metric), X: t.X, XTicks: t.Values,
			LogX: logScale(t.X), Series: []report.Series{se}}
		figs = append(figs, c.SVG())
	}
	return report.Figures(figs...)
}

// spread returns the smallest and largest of x (NaN for none).
func spread(x []float64) (lo, hi float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi
}

// logScale reports whether x is positive and spans a factor of 20 or more.
func logScale(x []float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		if !(v > 0) {
			return false
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return len(x) > 1 && hi/lo >= 20
}
