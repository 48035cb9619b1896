package report

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/limbic-dev/limbic/internal/browser"
	"github.com/limbic-dev/limbic/science/catalog"
)

// figureCheck is what the page's script reports about its figures.
type figureCheck struct {
	SVGs []struct {
		W, H  float64 // rendered size
		Marks int     // drawn marks: paths, lines, rects, circles, polygons
	}
	LabelOverlaps int      // pairs of PCA labels whose boxes overlap
	Labels        int      // PCA labels
	LegendBeside  bool     // every PCA legend lies right of its map's labels
	Figures       []string // classes of the section figures found
	Bands         int      // dose bands drawn
	Whiskers      int      // whiskers drawn on bars
}

const checkFigures = `(() => {
  const out = {SVGs: [], LabelOverlaps: 0, Labels: 0, LegendBeside: true, Figures: [], Bands: 0, Whiskers: 0};
  for (const s of document.querySelectorAll("svg")) {
    const r = s.getBoundingClientRect();
    out.SVGs.push({W: r.width, H: r.height, Marks: s.querySelectorAll("path,line,rect,circle,polygon,polyline").length});
  }
  for (const g of document.querySelectorAll("g.pca-labels")) {
    const bs = [...g.querySelectorAll("text")].map((t) => t.getBBox());
    out.Labels += bs.length;
    for (let i = 0; i < bs.length; i++) for (let j = i + 1; j < bs.length; j++) {
      const a = bs[i], b = bs[j];
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) out.LabelOverlaps++;
    }
    const leg = g.parentNode.querySelector("g.pca-legend");
    const right = Math.max(...bs.map((b) => b.x + b.width));
    if (!leg || leg.getBBox().x < right || leg.getBBox().width <= 0) out.LegendBeside = false;
  }
  for (const g of document.querySelectorAll(".figure g.figure-bar, .figure g.figure-line")) out.Figures.push(g.getAttribute("class"));
  out.Bands = document.querySelectorAll(".figure polygon.band").length;
  out.Whiskers = document.querySelectorAll(".figure g.figure-bar g.whisker").length;
  return JSON.stringify(out);
})()`

// TestReportOpensOffline opens a report with section figures in headless
// Chromium and checks that the page makes no request besides itself, shows
// no script or console errors, that every SVG renders with a size and
// marks, that the PCA labels do not overlap and the cluster legend sits
// beside the map.
func TestReportOpensOffline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		emotions []string
	}{{"core", catalog.CoreNames()}, {"all", catalog.Emotions()}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dose := LineChart{Title: "dose", XLabel: "number", YLabel: "readout", X: []float64{1, 2, 3},
				Series: []Series{{Name: "sad", Y: []float64{0, 1, 2}, Lo: []float64{-1, 0, 1}, Hi: []float64{1, 2, 3}}}}
			feel := BarChart{Title: "feel", YLabel: "Δ", Groups: []string{"happy", "sad"}, Series: []BarSeries{
				{Name: "+", Y: []float64{1, 2}, Lo: []float64{0.5, 1}, Hi: []float64{1.5, 3}},
				{Name: "−", Y: []float64{-1, -2}, Lo: []float64{-1.5, -3}, Hi: []float64{-0.5, -1}}}}
			secs := []Section{
				{ID: "feel", Title: "Feel", Note: "a note", Head: []string{"a", "b"}, Rows: [][]Cell{{{Text: "x", Tone: 0.5}, {Text: "y"}}}, JSON: map[string]int{"n": 1}, Figure: feel.SVG()},
				{ID: "dose", Title: "Dose", JSON: map[string]int{"n": 2}, Figure: Figures(dose.SVG(), dose.SVG())},
			}
			html, _, err := WriteFiles(dir, Input{Result: synthResult(t, tc.emotions, 2), Sections: secs, Version: "v9.9.9-test"})
			if err != nil {
				t.Fatal(err)
			}
			bctx := browser.Start(t)
			ctx, w := browser.Open(t, bctx, "file://"+filepath.ToSlash(html))
			js, err := chromedp.Run(ctx, chromedp.Evaluate[string](checkFigures))
			if err != nil {
				t.Fatal(err)
			}
			var got figureCheck
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatal(err)
			}
			reqs, problems := w.Snapshot()
			for _, r := range reqs {
				if !strings.HasPrefix(r, "file://") {
					t.Errorf("the report requested %s", r)
				}
			}
			if len(problems) > 0 {
				t.Errorf("problems: %v", problems)
			}
			if len(got.SVGs) < 6 {
				t.Errorf("%d SVG figures rendered, want at least 6", len(got.SVGs))
			}
			for i, s := range got.SVGs {
				if !(s.W > 0 && s.H > 0) || s.Marks == 0 {
					t.Errorf("SVG %d: %gx%g with %d marks, want a size and marks", i, s.W, s.H, s.Marks)
				}
			}
			if got.Labels < len(tc.emotions) {
				t.Errorf("%d PCA labels, want at least %d", got.Labels, len(tc.emotions))
			}
			if got.LabelOverlaps != 0 {
				t.Errorf("%d pairs of PCA labels overlap", got.LabelOverlaps)
			}
			if !got.LegendBeside {
				t.Error("a PCA map lacks its cluster legend beside it")
			}
			if want := []string{"figure-bar", "figure-line", "figure-line"}; strings.Join(got.Figures, ",") != strings.Join(want, ",") {
				t.Errorf("section figures %v, want %v", got.Figures, want)
			}
			if got.Bands != 2 || got.Whiskers != 4 {
				t.Errorf("%d bands, %d whisker lines; want 2 bands and whiskers on 4 bars", got.Bands, got.Whiskers)
			}
			ver, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(ver, "v9.9.9-test") < 1 {
				t.Error("the page does not show limbic's version")
			}
		})
	}
}
