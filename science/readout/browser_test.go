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
