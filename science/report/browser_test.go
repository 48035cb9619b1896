package report

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/limbic-dev/limbic/internal/browser"
	"github.com/limbic-dev/limbic/science/catalog"
)

// TestReportOpensOffline opens a report in headless Chromium and checks
// that the page makes no request besides itself and shows no script or
// console errors.
func TestReportOpensOffline(t *testing.T) {
	dir := t.TempDir()
	sec := Section{ID: "feel", Title: "Feel", Note: "a note", Head: []string{"a", "b"}, Rows: [][]Cell{{{Text: "x", Tone: 0.5}, {Text: "y"}}}, JSON: map[string]int{"n": 1}}
	html, _, err := WriteFiles(dir, Input{Result: synthResult(t, catalog.CoreNames(), 2), Sections: []Section{sec}})
	if err != nil {
		t.Fatal(err)
	}
	bctx := browser.Start(t)
	ctx, w := browser.Open(t, bctx, "file://"+filepath.ToSlash(html))
	svgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg").length`))
	if err != nil {
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
	if svgs < 3 {
		t.Errorf("%d SVG figures rendered", svgs)
	}
}
