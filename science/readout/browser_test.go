package readout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/limbic-dev/limbic/internal/browser"
)

// TestHTMLOpensOffline opens a readout heatmap in headless Chromium: its
// script colours every token, switching the emotion recolours them, and
// the page requests nothing besides itself.
func TestHTMLOpensOffline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "read.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, goldenTrace(), "sad", "test"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bctx := browser.Start(t)
	ctx, w := browser.Open(t, bctx, "file://"+filepath.ToSlash(path))
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.querySelectorAll("#text span").length === 6`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("tokens not rendered: %v", err)
	}
	color := func() string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelectorAll("#text span")[2].style.background`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sad := color() // " sad": full positive colour for sad
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector("#emotion");
		s.value = "happy"; s.dispatchEvent(new Event("change")); })()`)); err != nil {
		t.Fatal(err)
	}
	happy := color()
	if sad == "" || sad == happy {
		t.Errorf("token colour %q for sad, %q for happy", sad, happy)
	}
	// The grid and its colour bar render with a size and marks, and hovering
	// the cell of " sad" in sad's row shows its token and value.
	figs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const out = [];
		for (const id of ["grid", "colorbar"]) {
			const s = document.getElementById(id);
			if (!s) { out.push(id + ": missing"); continue; }
			const r = s.getBoundingClientRect(), marks = s.querySelectorAll("path,rect").length;
			if (!(r.width > 0 && r.height > 0) || marks === 0) out.push(id + ": " + r.width + "x" + r.height + ", " + marks + " marks");
		}
		const g = document.getElementById("grid"), r = g.getBoundingClientRect(), vb = g.viewBox.baseVal;
		const x = r.left + (110 + 14 * 2.5) * r.width / vb.width, y = r.top + (70 + 13 * 0.5) * r.height / vb.height;
		g.dispatchEvent(new MouseEvent("mousemove", {clientX: x, clientY: y, bubbles: true}));
		out.push("tip: " + document.getElementById("tip").textContent);
		return out.join(" | ");
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "tip: \" sad\" @3: sad 2.000"; figs != want {
		t.Errorf("grid check: %s, want %s", figs, want)
	}
	reqs, problems := w.Snapshot()
	for _, r := range reqs {
		if !strings.HasPrefix(r, "file://") {
			t.Errorf("the page requested %s", r)
		}
	}
	if len(problems) > 0 {
		t.Errorf("problems: %v", problems)
	}
}
