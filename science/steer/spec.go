package steer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/engine/hook"
)

// SpanKind names which tokens a spec steers.
type SpanKind string

// Span kinds.
const (
	All       SpanKind = "all"
	Prompt    SpanKind = "prompt"
	Generated SpanKind = "generated"
	Ranges    SpanKind = "ranges"
)

// Range is an inclusive range of token positions.
type Range struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Span selects token positions.
type Span struct {
	Kind   SpanKind `json:"kind"`
	Ranges []Range  `json:"ranges,omitempty"`
}

// Spec is one steering instruction. Either Emotion names a vector of the
// pack, or Vector (set by code, e.g. from a control-vector file) gives raw
// per-layer directions.
type Spec struct {
	Emotion  string  `json:"emotion,omitempty"`
	Strength float64 `json:"strength"`
	// Layers is "" (the pack's best layer), "L", "-L" (from the end) or "A-B".
	Layers string `json:"layers,omitempty"`
	Span   Span   `json:"span"`
	// Raw vectors by layer (not serialised); with Raw set, Strength scales
	// them as given (no norm scaling), as llama.cpp's --control-vector-scaled does.
	Raw map[int][]float32 `json:"-"`
}

// String formats the spec in the CLI syntax.
func (s Spec) String() string {
	var b strings.Builder
	name := s.Emotion
	if s.Raw != nil && name == "" {
		name = "vector"
	}
	b.WriteString(name)
	b.WriteString("=")
	b.WriteString(strconv.FormatFloat(s.Strength, 'g', -1, 64))
	if s.Layers != "" {
		b.WriteString("@" + s.Layers)
	}
	if s.Span.Kind != "" && s.Span.Kind != All {
		b.WriteString(":")
		if s.Span.Kind == Ranges {
			for i, r := range s.Span.Ranges {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%d-%d", r.From, r.To)
			}
		} else {
			b.WriteString(string(s.Span.Kind))
		}
	}
	return b.String()
}

// Parse reads EMOTION=STRENGTH[@LAYERS][:SPAN].
func Parse(s string) (Spec, error) {
	bad := func(format string, a ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("steer %q: %s (want EMOTION=STRENGTH[@LAYERS][:SPAN], e.g. calm=0.1@8-10:generated)", s, fmt.Sprintf(format, a...))
	}
	name, rest, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return bad("missing EMOTION=")
	}
	var spec Spec
	spec.Emotion = name
	rest, span, hasSpan := strings.Cut(rest, ":")
	str, layers, hasLayers := strings.Cut(rest, "@")
	v, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
	if err != nil {
		return bad("strength %q is not a number", str)
	}
	spec.Strength = v
	if hasLayers {
		layers = strings.TrimSpace(layers)
		if layers == "" {
			return bad("empty layer after @")
		}
		if err := checkLayers(layers); err != nil {
			return bad("%v", err)
		}
		spec.Layers = layers
	}
	spec.Span = Span{Kind: All}
	if hasSpan {
		sp, err := ParseSpan(span)
		if err != nil {
			return bad("%v", err)
		}
		spec.Span = sp
	}
	return spec, nil
}

// checkLayers checks the syntax of a layer selector ("8", "-1", "6-9");
// the range is checked against the model when the spec is applied.
func checkLayers(s string) error {
	a, b, isRange := strings.Cut(strings.TrimPrefix(s, "-"), "-")
	if _, err := strconv.Atoi(a); err != nil {
		return fmt.Errorf("layers %q: want L, -L or A-B", s)
	}
	if isRange {
		if strings.HasPrefix(s, "-") {
			return fmt.Errorf("layers %q: ranges take non-negative layers", s)
		}
		if _, err := strconv.Atoi(b); err != nil {
			return fmt.Errorf("layers %q: want L, -L or A-B", s)
		}
	}
	return nil
}

// ParseSpan reads "all", "prompt", "generated" or "A-B,C-D".
func ParseSpan(s string) (Span, error) {
	s = strings.TrimSpace(s)
	switch SpanKind(s) {
	case All, "":
		return Span{Kind: All}, nil
	case Prompt, Generated:
		return Span{Kind: SpanKind(s)}, nil
	}
	var sp Span
	sp.Kind = Ranges
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		from, err := strconv.Atoi(a)
		if err != nil || from < 0 {
			return Span{}, fmt.Errorf("span %q: %q is not all, prompt, generated or a position range A-B", s, part)
		}
		to := from
		if isRange {
			if to, err = strconv.Atoi(b); err != nil || to < from {
				return Span{}, fmt.Errorf("span %q: bad range %q", s, part)
			}
		}
		sp.Ranges = append(sp.Ranges, Range{From: from, To: to})
	}
	return sp, nil
}

// UnmarshalJSON accepts a span as an object or as a string in the CLI syntax.
func (s *Span) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		sp, err := ParseSpan(str)
		if err != nil {
			return err
		}
		*s = sp
		return nil
	}
	type plain Span
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("span: %w", err)
	}
	if p.Kind == "" {
		p.Kind = All
	}
	switch p.Kind {
	case All, Prompt, Generated, Ranges:
	default:
		return fmt.Errorf("span kind %q (want all, prompt, generated or ranges)", p.Kind)
	}
	*s = Span(p)
	return nil
}

// Spans converts the span into engine position spans for a sequence whose
// prompt has promptLen tokens.
func (s Span) Spans(promptLen int) hook.Spans {
	switch s.Kind {
	case Prompt:
		if promptLen == 0 {
			return hook.Spans{{From: 1, To: 1}} // selects nothing
		}
		return hook.Spans{{From: 0, To: promptLen}}
	case Generated:
		return hook.Spans{{From: promptLen, To: 0}}
	case Ranges:
		out := make(hook.Spans, len(s.Ranges))
		for i, r := range s.Ranges {
			out[i] = hook.Span{From: r.From, To: r.To + 1}
		}
		return out
	}
	return nil
}
