package pipeline

import (
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/science/experiment"
	"github.com/limbic-dev/limbic/science/report"
)

// Sections turns experiment results into report sections (nil results are
// left out).
func Sections(feel *experiment.FeelResult, dose *experiment.DoseResult, imp *experiment.ImplicitResult) []report.Section {
	var out []report.Section
	if feel != nil {
		s := report.Section{ID: "feel", Title: "Steering check: “He felt / She felt”", JSON: feel,
			Note: fmt.Sprintf("Each emotion steered at ±%g × the mean residual norm on layers %v, on the prompt tokens only; Δ log-probability of the emotion's own word as the continuation of %s (mean over the prompts). Own word rises when added for %.0f%% of the emotions and falls when subtracted for %.0f%%.",
				feel.Strength, feel.Layers, promptNames(feel.Prompts), 100*feel.RaiseRate, 100*feel.LowerRate),
			Head: []string{"emotion", "Δ own word (+)", "Δ own word (−)", "rank of own word among risers", "word that rose most (+)"}}
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
			Note: fmt.Sprintf("Templates where a number varies; the emotion's readout (%s, layer %d) at the last prompt position against the number. %d of %d templates are monotone in the expected direction (Spearman |ρ| ≥ 0.8).",
				dose.Metric, dose.Layer, dose.Monotone, len(dose.Templates)),
			Head: []string{"template", "emotion", "expected", "Spearman ρ", "readouts (low → high number)"}}
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
