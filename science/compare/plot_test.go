package compare

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestPaperReference(t *testing.T) {
	rows, err := Paper()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rows), 171; got != want {
		t.Fatalf("%d emotions, want %d", got, want)
	}
	for _, r := range rows {
		// Each number is rounded to 4 decimals: they agree within 1.5e-4.
		if d := r.Diff - (r.Post - r.Base); !(math.Abs(d) <= 1.5e-4+1e-12) {
			t.Errorf("%s: diff %v, post − base %v", r.Emotion, r.Diff, r.Post-r.Base)
		}
	}
	// The paper: brooding rises most, spiteful falls most.
	if got, want := rows[0].Emotion+"/"+rows[len(rows)-1].Emotion, "brooding/spiteful"; got != want {
		t.Errorf("extremes %s, want %s", got, want)
	}
}

func sampleResult() *Result {
	r := &Result{A: ModelInfo{Name: "base<1>"}, B: ModelInfo{Name: "post"}, Layer: 2, Kind: "denoised", Neutral: 3, Challenging: 3,
		RProfiles: 0.5, RChange: Corr(math.NaN())}
	for i := range 30 {
		d := float64(15-i) / 100
		r.Emotions = append(r.Emotions, Row{Emotion: "e" + string(rune('a'+i%26)) + string(rune('a'+i/26)), A: 0.1, B: 0.1 + d, Diff: d})
	}
	return r
}

func TestPlotIsWellFormedSVG(t *testing.T) {
	r := sampleResult()
	s, err := Plot(r, 5)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(s))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// Background, then 10 bars a panel.
	if got, want := rects, 1+10+10; got != want {
		t.Errorf("%d rects, want %d", got, want)
	}
	for _, w := range []string{"brooding", "spiteful", r.Emotions[0].Emotion, r.Emotions[29].Emotion, "undefined"} {
		if !strings.Contains(s, w) {
			t.Errorf("plot lacks %q", w)
		}
	}
	if strings.Contains(s, r.Emotions[10].Emotion+" ") {
		t.Errorf("plot shows middle emotion %s", r.Emotions[10].Emotion)
	}
}

func TestSection(t *testing.T) {
	r := sampleResult()
	s := Section(r)
	if got, want := len(s.Rows), len(r.Emotions); got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	if got, want := s.Rows[0][3].Tone, 1.0; !(math.Abs(got-want) <= 1e-12) {
		t.Errorf("tone of the largest diff %v, want %v", got, want)
	}
	if got := s.Rows[0][0].Text; got != r.Emotions[0].Emotion {
		t.Errorf("first row %s, want %s", got, r.Emotions[0].Emotion)
	}
	if !strings.Contains(s.Note, "r = undefined") {
		t.Errorf("note %q does not say r_change is undefined", s.Note)
	}
}
