package report

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/catalog"
)

// lab converts "#rrggbb" to CIELAB (D65).
func lab(t *testing.T, hex string) [3]float64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil || len(hex) != 7 {
		t.Fatalf("colour %q", hex)
	}
	lin := func(c uint64) float64 {
		x := float64(c) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	r, g, b := lin(v>>16), lin(v>>8&0xff), lin(v&0xff)
	x := (0.4124*r + 0.3576*g + 0.1805*b) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*b
	z := (0.0193*r + 0.1192*g + 0.9505*b) / 1.08883
	f := func(u float64) float64 {
		if u > 216.0/24389 {
			return math.Cbrt(u)
		}
		return (24389.0/27*u + 16) / 116
	}
	return [3]float64{116*f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))}
}

// TestPaletteDistinct checks that every two cluster colours (and the colour
// of emotions outside the paper's clusters) differ by ΔE*76 ≥ 25, and that
// there is one colour per paper cluster.
func TestPaletteDistinct(t *testing.T) {
	if got, want := len(clusterColors), len(catalog.Clusters()); got < want {
		t.Fatalf("%d cluster colours for %d clusters", got, want)
	}
	cols := append(append([]string(nil), clusterColors...), noClusterColor)
	minD, pair := math.Inf(1), ""
	for i := range cols {
		for j := i + 1; j < len(cols); j++ {
			a, b := lab(t, cols[i]), lab(t, cols[j])
			d := math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
			if d < minD {
				minD, pair = d, cols[i]+" "+cols[j]
			}
		}
	}
	if !(minD >= 25) {
		t.Errorf("closest colours %s: ΔE %.1f, want ≥ 25", pair, minD)
	}
}

func TestLineChartBandAndGaps(t *testing.T) {
	c := LineChart{Title: "t", XLabel: "number of days", YLabel: "sad readout", X: []float64{1, 2, 3, 4},
		Series: []Series{{Name: "sad", Y: []float64{1, math.NaN(), 3, 4}, Lo: []float64{0, 1, 2, 3}, Hi: []float64{2, 3, 4, 5}}}}
	svg := string(c.SVG())
	for _, want := range []string{"number of days", "sad readout", `class="band"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Error("chart holds a non-finite coordinate")
	}
	// The band has a corner per x at Lo and at Hi; the NaN point is left
	// out of the line (3 dots).
	pts := regexp.MustCompile(`<polygon class="band" points="([^"]*)"`).FindStringSubmatch(svg)
	if pts == nil {
		t.Fatal("no band polygon")
	}
	if got, want := len(strings.Fields(pts[1])), 8; got != want {
		t.Errorf("band has %d corners, want %d", got, want)
	}
	if got, want := strings.Count(svg, "<circle"), 3; got != want {
		t.Errorf("%d dots, want %d", got, want)
	}
}

func TestBarChartWhiskers(t *testing.T) {
	c := BarChart{Title: "t", YLabel: "Δ log p", Groups: []string{"happy", "sad", "calm"},
		Series: []BarSeries{{Name: "added", Y: []float64{1, -1, 2}, Lo: []float64{0.5, -2, 1}, Hi: []float64{1.5, 0, 3}}, {Name: "subtracted", Y: []float64{-1, 1, 0.5}}}}
	svg := string(c.SVG())
	if got, want := strings.Count(svg, "<rect"), 6+2; got != want { // bars + legend swatches
		t.Errorf("%d rects, want %d", got, want)
	}
	for _, g := range c.Groups {
		if !strings.Contains(svg, ">"+g+"<") {
			t.Errorf("no label %q", g)
		}
	}
	// Three whiskers of three lines each; the second series has none.
	whiskers := regexp.MustCompile(`<g class="whisker">(<line [^>]*/>){3}</g>`)
	if got, want := len(whiskers.FindAllString(svg, -1)), 3; got != want {
		t.Errorf("%d whiskers, want %d", got, want)
	}
	if !strings.Contains(svg, "happy, added: 1 (0.5 … 1.5)") {
		t.Error("bar tooltips lack the interval")
	}
}

func TestParamsOnceAndVersion(t *testing.T) {
	r := synthResult(t, catalog.CoreNames(), 1)
	r.Params["per_topic"] = "4"
	r.Params["max_tokens"] = "40"
	r.Params["seed"] = "1"
	in := Input{Result: r, Version: "v1.2.3", Params: map[string]string{"per topic": "4", "max tokens per story": "40", "seed": "2", "stories": "512"}}
	rows := paramTable(in)
	seen := map[string]string{}
	for _, row := range rows {
		if _, dup := seen[row[0]]; dup {
			t.Errorf("parameter %q shown twice", row[0])
		}
		seen[row[0]] = row[1]
	}
	for k, want := range map[string]string{"per topic": "4", "max tokens per story": "40", "seed": "2; 1", "limbic version": "v1.2.3", "stories": "512"} {
		if got := seen[k]; got != want {
			t.Errorf("parameter %q = %q, want %q", k, got, want)
		}
	}
	js, err := JSON(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"limbic_version": "v1.2.3"`) {
		t.Error("report.json lacks limbic_version")
	}
}
