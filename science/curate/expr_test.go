package curate

import (
	"math"
	"strings"
	"testing"
)

func TestExprEval(t *testing.T) {
	emos := []string{"calm", "desperate", "happy", "self-conscious", "and"}
	for _, c := range []struct {
		src  string
		vals []float64 // calm, desperate, happy, self-conscious, and
		want bool
	}{
		{"calm > 1 and desperate < 0", []float64{1.5, -0.2, 0, 0, 0}, true},
		{"calm > 1 and desperate < 0", []float64{1.5, 0.2, 0, 0, 0}, false},
		{"calm > 1 and desperate < 0", []float64{1, -1, 0, 0, 0}, false},
		{"calm >= 1 AND desperate < 0", []float64{1, -1, 0, 0, 0}, true},
		{"calm > 1 or happy > 2", []float64{0, 0, 3, 0, 0}, true},
		{"calm > 1 || happy > 2", []float64{0, 0, 1, 0, 0}, false},
		{"not calm > 1", []float64{0, 0, 0, 0, 0}, true},
		{"!(calm > 1)", []float64{2, 0, 0, 0, 0}, false},
		{"calm - desperate > 1", []float64{0.5, -0.6, 0, 0, 0}, true},
		{"calm-desperate > 1", []float64{0.5, -0.4, 0, 0, 0}, false},
		{"calm > 2 * desperate + 1", []float64{3.1, 1, 0, 0, 0}, true},
		{"calm > 2 * (desperate + 1)", []float64{3.1, 1, 0, 0, 0}, false},
		{"-calm == 2", []float64{-2, 0, 0, 0, 0}, true},
		{"calm / 2 != 1", []float64{2, 0, 0, 0, 0}, false},
		{"calm > 1 or happy > 1 and desperate > 1", []float64{2, 0, 0, 0, 0}, true}, // and binds tighter
		{"(calm > 1 or happy > 1) and desperate > 1", []float64{2, 0, 0, 0, 0}, false},
		{`"self-conscious" > 0.5`, []float64{0, 0, 0, 0.6, 0}, true},
		{`"and" < 0`, []float64{0, 0, 0, 0, -1}, true},
		{"calm > 1e-3", []float64{0.01, 0, 0, 0, 0}, true},
		{"calm > .5", []float64{0.4, 0, 0, 0, 0}, false},
		{"calm > 0", []float64{math.NaN(), 0, 0, 0, 0}, false},
		{"not calm > 0", []float64{math.NaN(), 0, 0, 0, 0}, true},
	} {
		e, err := ParseExpr(c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		idx, err := e.Bind(emos)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		vals := make([]float64, len(idx))
		for i, j := range idx {
			vals[i] = c.vals[j]
		}
		if got := e.Eval(vals); got != c.want {
			t.Errorf("%s with %v: got %v, want %v", c.src, c.vals, got, c.want)
		}
	}
}

func TestExprErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"", "at 0: want a number"},
		{"calm", "is a number, want a condition"},
		{"calm + 1", "is a number"},
		{"calm > ", "at 7: want a number"},
		{"calm > 1 and", "at 12: want a number"},
		{"calm > 1 and sad", "and needs conditions"},
		{"calm or sad > 1", "or needs conditions"},
		{"not calm", "not needs a condition"},
		{"calm > 1 > 0", "do not chain"},
		{"(calm > 1) > 0", "compares numbers, not conditions"},
		{"(calm > 1", "want ) to close the ( at 0"},
		{"calm > 1)", `unexpected ")"`},
		{"calm = 1", "use == to compare"},
		{"calm > 1 # x", "unexpected character"},
		{`"calm > 1`, "unterminated quoted name"},
		{`"" > 1`, "empty quoted name"},
		{"calm > 1..2", "bad number"},
		{"and > 1", "a name that is a keyword is written in double quotes"},
		{"-(calm > 1)", "- needs a number"},
		{"(calm > 1) + 1 > 0", "+ needs numbers"},
		{"(calm > 1) * 1 > 0", "* needs numbers"},
	} {
		_, err := ParseExpr(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want one containing %q", c.src, err, c.want)
		}
	}
	e, err := ParseExpr("calm > 1 and desprate < 0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Bind([]string{"calm", "desperate"}); err == nil || !strings.Contains(err.Error(), `unknown emotion "desprate"`) {
		t.Errorf("bind: err %v, want unknown emotion", err)
	}
	if got, want := strings.Join(e.Emotions(), ","), "calm,desprate"; got != want {
		t.Errorf("emotions %s, want %s", got, want)
	}
}

// FuzzParseExpr: any input parses or fails with an error, never a panic;
// what parses is boolean and evaluates over any values without panicking,
// and re-parsing its source gives the same decisions.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"calm > 1 and desperate < 0", "not (a <= -2 * b) or c != 3", `"x-y" == 1e3`, "((", "a >", "!a>1&&b<2||c==3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseExpr(src)
		if err != nil {
			return
		}
		vals := make([]float64, len(e.Emotions()))
		for i := range vals {
			vals[i] = float64(i) - 1
		}
		got := e.Eval(vals)
		e2, err := ParseExpr(e.String())
		if err != nil {
			t.Fatalf("%q parsed once, not twice: %v", src, err)
		}
		if again := e2.Eval(vals); again != got {
			t.Fatalf("%q: %v then %v", src, got, again)
		}
	})
}
