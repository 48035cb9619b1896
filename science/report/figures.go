package report

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/validate"
)

// clusterColors follow the paper's valence order: a qualitative palette of
// hues far apart in CIELAB (TestPaletteDistinct), so that neighbouring
// clusters on the PCA map are told apart.
var clusterColors = []string{
	"#e6ab02", // Exuberant Joy: gold
	"#4daf4a", // Peaceful Contentment: green
	"#17becf", // Compassionate Gratitude: cyan
	"#984ea3", // Competitive Pride: purple
	"#f781bf", // Playful Amusement: pink
	"#a65628", // Depleted Disengagement: brown
	"#ff7f00", // Vigilant Suspicion: orange
	"#e41a1c", // Hostile Anger: red
	"#377eb8", // Fear and Overwhelm: blue
	"#1a1a1a", // Despair and Shame: black
}

const noClusterColor = "#bdbdbd"

func colorOf(rank int) string {
	if rank < 0 || rank >= len(clusterColors) {
		return noClusterColor
	}
	return clusterColors[rank]
}

type legendItem struct {
	Name, Color string
	Valence     string
}

func legend() []legendItem {
	var out []legendItem
	for _, c := range catalog.Clusters() {
		v := "+"
		if c.Valence < 0 {
			v = "−"
		}
		out = append(out, legendItem{Name: c.Name, Color: colorOf(c.Rank), Valence: v})
	}
	return append(out, legendItem{Name: "not in the paper's list", Color: noClusterColor})
}

// accuracyCurve plots top-1 and top-5 per layer for all emotions and, when
// present, the core set and the hand-written stories, with the chance levels.
func accuracyCurve(r *validate.Result) template.HTML {
	const W, H, ml, mr, mt, mb = 560.0, 300.0, 50.0, 150.0, 20.0, 40.0
	s := newSVG(W, H)
	pw, ph := W-ml-mr, H-mt-mb
	n := len(r.Layers)
	x := func(i int) float64 {
		if n == 1 {
			return ml + pw/2
		}
		return ml + pw*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return mt + ph*(1-v) }
	for _, t := range []float64{0, 0.2, 0.4, 0.6, 0.8, 1} {
		s.line(ml, y(t), ml+pw, y(t), "#e5e5e5", 1, false)
		s.text(ml-6, y(t)+4, fmt.Sprintf("%.0f%%", t*100), "end", 10, "#555", 0)
	}
	for i, l := range r.Layers {
		s.text(x(i), H-mb+16, fmt.Sprint(l.Layer), "middle", 10, "#555", 0)
		if l.Layer == r.BestLayer {
			s.line(x(i), mt, x(i), mt+ph, "#bbb", 1, true)
		}
	}
	s.text(ml+pw/2, H-6, "layer (blocks.L.hook_resid_post)", "middle", 11, "#333", 0)
	type series struct {
		name  string
		color string
		dash  bool
		get   func(l validate.LayerResult) (float64, bool)
	}
	ser := []series{
		{"top-1, all", "#d62728", false, func(l validate.LayerResult) (float64, bool) { return l.All.Top1, true }},
		{"top-5, all", "#d62728", true, func(l validate.LayerResult) (float64, bool) { return l.All.Top5, true }},
	}
	if len(r.Layers) > 0 && r.Layers[0].Core != nil {
		ser = append(ser,
			series{"top-1, core", "#1f77b4", false, func(l validate.LayerResult) (float64, bool) { return l.Core.Top1, l.Core != nil }},
			series{"top-5, core", "#1f77b4", true, func(l validate.LayerResult) (float64, bool) { return l.Core.Top5, l.Core != nil }})
	}
	if hw := r.Handwritten; hw != nil {
		at := func(l validate.LayerResult) *validate.LayerScore { return hw.At(l.Layer) }
		ser = append(ser,
			series{"top-1, hand-written", "#2ca02c", false, func(l validate.LayerResult) (float64, bool) {
				if a := at(l); a != nil {
					return a.Top1, true
				}
				return 0, false
			}},
			series{"top-5, hand-written", "#2ca02c", true, func(l validate.LayerResult) (float64, bool) {
				if a := at(l); a != nil {
					return a.Top5, true
				}
				return 0, false
			}})
	}
	for k, se := range ser {
		var xs, ys []float64
		for i, l := range r.Layers {
			if v, ok := se.get(l); ok {
				xs, ys = append(xs, x(i)), append(ys, y(v))
			}
		}
		s.polyline(xs, ys, se.color, 2, se.dash)
		for i := range xs {
			s.circle(xs[i], ys[i], 2.5, se.color, "")
		}
		ly := mt + 14 + float64(k)*16
		s.line(W-mr+12, ly-4, W-mr+36, ly-4, se.color, 2, se.dash)
		s.text(W-mr+40, ly, se.name, "start", 11, "#333", 0)
	}
	if r.All != nil {
		s.line(ml, y(r.All.Chance), ml+pw, y(r.All.Chance), "#888", 1, true)
		ly := mt + 14 + float64(len(ser))*16
		s.line(W-mr+12, ly-4, W-mr+36, ly-4, "#888", 1, true)
		s.text(W-mr+40, ly, fmt.Sprintf("chance %.1f%%", 100*r.All.Chance), "start", 11, "#333", 0)
	}
	return s.html()
}

// pcaMap draws PC1 against PC2 with labelled points coloured by cluster,
// and the cluster legend (the clusters present) beside the map. Labels are
// placed so that they do not overlap (placeLabel).
func pcaMap(a *validate.Analysis, infos map[string]validate.EmotionInfo) template.HTML {
	n := len(a.Emotions)
	PW, H := 640.0, 520.0
	if n > 40 {
		PW, H = 1000, 800
	}
	const m, legendW = 40.0, 230.0
	W := PW + legendW
	s := newSVG(W, H)
	if len(a.PCA.PC1) == 0 {
		s.text(PW/2, H/2, "PCA not available", "middle", 12, "#555", 0)
		return s.html()
	}
	lo1, hi1 := minMax(a.PCA.PC1)
	lo2, hi2 := minMax(a.PCA.PC2)
	pad1, pad2 := (hi1-lo1)*0.08+1e-9, (hi2-lo2)*0.08+1e-9
	lo1, hi1, lo2, hi2 = lo1-pad1, hi1+pad1, lo2-pad2, hi2+pad2
	x := func(v float64) float64 { return m + (PW-2*m)*(v-lo1)/(hi1-lo1) }
	y := func(v float64) float64 { return H - m - (H-2*m)*(v-lo2)/(hi2-lo2) }
	s.rect(m, m, PW-2*m, H-2*m, "#fcfcfc", "")
	if lo1 < 0 && hi1 > 0 {
		s.line(x(0), m, x(0), H-m, "#ccc", 1, true)
	}
	if lo2 < 0 && hi2 > 0 {
		s.line(m, y(0), PW-m, y(0), "#ccc", 1, true)
	}
	ex := a.PCA.Explained
	e1, e2 := 0.0, 0.0
	if len(ex) > 0 {
		e1 = ex[0]
	}
	if len(ex) > 1 {
		e2 = ex[1]
	}
	s.text(PW/2, H-10, fmt.Sprintf("PC1 (%.0f%% of variance) →", 100*e1), "middle", 12, "#333", 0)
	s.text(14, H/2, fmt.Sprintf("PC2 (%.0f%%) →", 100*e2), "middle", 12, "#333", -90)
	fs := 11.0
	if n > 40 {
		fs = 8.5
	}
	present := map[int]bool{}
	pts := make([][2]float64, n)
	for i, name := range a.Emotions {
		info := infos[name]
		pts[i] = [2]float64{x(a.PCA.PC1[i]), y(a.PCA.PC2[i])}
		s.circle(pts[i][0], pts[i][1], 4, colorOf(info.ClusterRank), fmt.Sprintf("%s (%s): PC1 %.3f, PC2 %.3f", name, clusterName(info), a.PCA.PC1[i], a.PCA.PC2[i]))
		r := info.ClusterRank
		if r < 0 || r >= len(clusterColors) {
			r = -1
		}
		present[r] = true
	}
	area := box{m, m, PW - m, H - m}
	// The points are obstacles for the labels; the labels' test looks at
	// the labels only (placed[n:]).
	placed := make([]box, 0, 2*n)
	for _, p := range pts {
		placed = append(placed, box{p[0] - 4.5, p[1] - 4.5, p[0] + 4.5, p[1] + 4.5})
	}
	s.b.WriteString(`<g class="pca-labels">`)
	for i, name := range a.Emotions {
		px, py := pts[i][0], pts[i][1]
		lx, ly, anchor, moved := placeLabel(&placed, area, px, py, name, fs)
		if moved { // a thin leader line from the point to the label's near edge
			b := placed[len(placed)-1]
			s.line(px, py, math.Max(b.x0, math.Min(px, b.x1)), ly-fs*0.35, "#bbb", 0.6, false)
		}
		s.text(lx, ly, name, anchor, fs, "#222", 0)
	}
	s.b.WriteString(`</g>`)
	// The legend beside the map: the clusters present, in valence order.
	s.b.WriteString(`<g class="pca-legend">`)
	ly := m + 4
	s.text(PW+8, ly, "Paper clusters", "start", 12, "#222", 0)
	for _, it := range legend() {
		rank := -1
		for _, c := range catalog.Clusters() {
			if c.Name == it.Name {
				rank = c.Rank
			}
		}
		if !present[rank] {
			continue
		}
		ly += 19
		s.circle(PW+14, ly-4, 5, it.Color, "")
		lab := it.Name
		if it.Valence != "" {
			lab += " (" + it.Valence + ")"
		}
		s.text(PW+24, ly, lab, "start", 11, "#222", 0)
	}
	s.b.WriteString(`</g>`)
	return s.html()
}

func clusterName(info validate.EmotionInfo) string {
	if info.Cluster == "" {
		return "no paper cluster"
	}
	return info.Cluster
}

func minMax(x []float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi
}

// clusterOrder returns the emotion positions sorted by paper cluster rank
// (emotions without a cluster last), keeping the run's order within a cluster.
func clusterOrder(names []string, infos map[string]validate.EmotionInfo) []int {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) int {
		r := infos[names[i]].ClusterRank
		if r < 0 {
			return 1 << 20
		}
		return r
	}
	sort.SliceStable(idx, func(a, b int) bool { return key(idx[a]) < key(idx[b]) })
	return idx
}

// matrix draws a square heatmap with emotion labels; values are shown in
// cells when there is room.
func matrix(names []string, infos map[string]validate.EmotionInfo, val func(i, j int) float64, color func(v float64) string,
	cellText, title func(i, j int) string) template.HTML {
	order := clusterOrder(names, infos)
	n := len(names)
	cell := math.Max(4, math.Min(34, 760/float64(max(n, 1))))
	showLabels := cell >= 7
	label := 0.0
	if showLabels {
		label = 110
	}
	W := label + cell*float64(n) + 20
	H := label + cell*float64(n) + 30
	s := newSVG(W, H)
	fs := math.Min(11, cell*0.8)
	// Large matrices: one path per (quantised) colour instead of one titled
	// rect per cell, which keeps a 171×171 heatmap under a megabyte.
	compact := n > 40
	paths := cellPaths{}
	for a, i := range order {
		yy := label + cell*float64(a)
		if showLabels {
			s.rect(label-8, yy+1, 5, cell-2, colorOf(infos[names[i]].ClusterRank), "")
			s.text(label-10, yy+cell/2+fs/3, names[i], "end", fs, "#222", 0)
			xx := label + cell*float64(a)
			s.rect(xx+1, label-8, cell-2, 5, colorOf(infos[names[i]].ClusterRank), "")
			s.text(xx+cell/2+fs/3, label-10, names[i], "start", fs, "#222", -90)
		}
		for b, j := range order {
			v := val(i, j)
			xx := label + cell*float64(b)
			if compact {
				paths.add(color(quantize(v)), xx, yy, cell)
				continue
			}
			s.rect(xx, yy, cell, cell, color(v), title(i, j))
			if cell >= 26 {
				if t := cellText(i, j); t != "" && t != "0" {
					fg := "#222"
					if math.Abs(v) > 0.6 {
						fg = "#fff"
					}
					s.text(xx+cell/2, yy+cell/2+3.5, t, "middle", 9, fg, 0)
				}
			}
		}
	}
	paths.draw(s)
	return s.html()
}

func quantize(v float64) float64 { return math.Round(v*20) / 20 }

// cellPaths collects square cells by fill colour.
type cellPaths map[string]*strings.Builder

func (c cellPaths) add(fill string, x, y, size float64) {
	b := c[fill]
	if b == nil {
		b = &strings.Builder{}
		c[fill] = b
	}
	fmt.Fprintf(b, "M%.1f %.1fh%.1fv%.1fh-%.1fz", x, y, size, size, size)
}

func (c cellPaths) draw(s *svg) {
	fills := make([]string, 0, len(c))
	for f := range c {
		fills = append(fills, f)
	}
	sort.Strings(fills)
	for _, f := range fills {
		fmt.Fprintf(&s.b, `<path fill="%s" d="%s"/>`, f, c[f].String())
	}
}

func cosineHeatmap(a *validate.Analysis, infos map[string]validate.EmotionInfo) template.HTML {
	return matrix(a.Emotions, infos, func(i, j int) float64 { return a.Cosine[i][j] }, diverging,
		func(i, j int) string { return fmt.Sprintf("%.2f", a.Cosine[i][j]) },
		func(i, j int) string {
			return fmt.Sprintf("%s · %s: %.3f", a.Emotions[i], a.Emotions[j], a.Cosine[i][j])
		})
}

func confusionHeatmap(a *validate.Analysis, infos map[string]validate.EmotionInfo) template.HTML {
	rowTotal := make([]int, len(a.Confusion))
	for i, row := range a.Confusion {
		for _, c := range row {
			rowTotal[i] += c
		}
	}
	frac := func(i, j int) float64 {
		if rowTotal[i] == 0 {
			return 0
		}
		return float64(a.Confusion[i][j]) / float64(rowTotal[i])
	}
	return matrix(a.Emotions, infos, frac, sequential,
		func(i, j int) string { return fmt.Sprint(a.Confusion[i][j]) },
		func(i, j int) string {
			return fmt.Sprintf("true %s, predicted %s: %d of %d", a.Emotions[i], a.Emotions[j], a.Confusion[i][j], rowTotal[i])
		})
}

// colorBar draws a small legend bar for a colour map over [lo, hi].
func colorBar(color func(float64) string, lo, hi float64, label string) template.HTML {
	s := newSVG(260, 34)
	for i := 0; i < 50; i++ {
		v := lo + (hi-lo)*float64(i)/49
		s.rect(10+float64(i)*4, 4, 4, 12, color(v), "")
	}
	s.text(10, 28, fmt.Sprintf("%g", lo), "start", 10, "#333", 0)
	s.text(210, 28, fmt.Sprintf("%g", hi), "end", 10, "#333", 0)
	s.text(110, 28, label, "middle", 10, "#333", 0)
	return s.html()
}

// box is a placed label's extent.
type box struct{ x0, y0, x1, y1 float64 }

func (a box) overlaps(b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }

// placeLabel finds a spot for a label beside its point (px, py) that does
// not overlap the labels (and points) placed before it and stays inside area: right of
// the point on its line, else the nearest free line above or below, on the
// right or the left, up to 24 lines away. It returns the text position and
// anchor ("start" right of the point, "end" left of it) and whether the
// label left the point's side (to draw a leader line); the label's box is
// appended to placed. When no spot is free, the least-overlapping one is
// taken.
func placeLabel(placed *[]box, area box, px, py float64, text string, fs float64) (lx, ly float64, anchor string, moved bool) {
	// Glyph boxes as browsers measure them (DejaVu Sans, the widest common
	// default): about 0.64 em per character, 0.95 em above the baseline and
	// 0.25 em below.
	w := float64(len([]rune(text)))*fs*0.64 + 2
	lh := fs * 1.25
	cand := func(k int, side int) (box, float64, float64) { // box, text x, baseline
		dy := float64(k) * lh
		bx0 := px + 6 // right of the point
		switch side {
		case 1: // left
			bx0 = px - 6 - w
		case 2: // further right
			bx0 = px + 6 + w*0.6
		case 3: // further left
			bx0 = px - 6 - w*1.6
		}
		base := py + dy + fs*0.35
		b := box{bx0, base - fs*0.95, bx0 + w, base + fs*0.25}
		if side%2 == 1 { // left labels end at the box's right edge
			return b, b.x1, base
		}
		return b, b.x0, base
	}
	overlap := func(b box) float64 {
		sum := 0.0
		if b.y0 < area.y0 || b.y1 > area.y1 || b.x0 < area.x0 || b.x1 > area.x1 {
			sum += w * fs // outside the plot: as bad as one overlap
		}
		for _, o := range *placed {
			if b.overlaps(o) {
				sum += (math.Min(b.x1, o.x1) - math.Max(b.x0, o.x0)) * (math.Min(b.y1, o.y1) - math.Max(b.y0, o.y0))
			}
		}
		return sum
	}
	best, bestCost := box{}, math.Inf(1)
	var bx, by float64
	var bk, bside int
	for k := 0; k <= 48; k++ {
		off := (k + 1) / 2
		if k%2 == 1 {
			off = -off
		}
		for side := range 4 {
			b, x, y := cand(off, side)
			c := overlap(b)
			if c < bestCost {
				best, bestCost, bx, by, bk, bside = b, c, x, y, off, side
			}
			if c == 0 {
				k = 1 << 20
				break
			}
		}
	}
	*placed = append(*placed, best)
	anchor = "start"
	if bside%2 == 1 {
		anchor = "end"
	}
	return bx, by, anchor, bk != 0 || bside >= 2
}
