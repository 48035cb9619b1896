// Package report renders a validation result as one self-contained HTML file:
// inline CSS and inline SVG drawn by the small helpers in svg.go, no scripts
// and no network resources, so it opens anywhere and can be mailed or
// archived as is. Beside it, report.json holds every number the page shows
// (the validate.Result plus the run parameters).
//
// Figures (at the best layer unless stated): the per-layer accuracy curve
// (top-1 and top-5, all emotions and core set, with chance), the PCA map
// (labelled points coloured by paper cluster, labels placed so that they do
// not overlap, the cluster legend beside it), the cosine-similarity heatmap
// (emotions ordered by paper cluster), the confusion matrix (rows = true
// emotion, row-normalised), the logit-lens table, per-layer geometry numbers,
// and the run's parameters, each once, with limbic's version.
//
// Further results come as Sections: a note, a table and, optionally, a
// Figure: inline SVG from LineChart (curves with optional bands, e.g. dose
// curves), BarChart (grouped bars with optional whiskers, e.g. the feel
// experiment) or any SVG built from escaped text, laid side by side with
// Figures.
package report
