package steer

import (
	"encoding/json"
	"fmt"
	"math"
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
	// Layers is "" (the pack's best layer) or a layer list as
	// hook.ParseLayerList reads it: "L", "-L" (from the end), "A:B"
	// (inclusive), "A-B" (non-negative), comma lists of those.
	Layers string `json:"layers,omitempty"`
	Span   Span   `json:"span"`
	// Raw vectors by layer (not serialised); with Raw set, Strength scales
	// them as given (no norm scaling), as llama.cpp's --control-vector-scaled does.
	Raw map[int][]float32 `json:"-"`
}

// MaxStrength bounds |Strength|: a steering vector ten times the mean
// residual norm (or ten times a control vector) only destroys the text, and
// larger values are typing mistakes.
const MaxStrength = 10

// Syntax is the CLI grammar of a spec, for help texts and error messages.
const Syntax = "EMOTION=STRENGTH[@LAYERS][:SPAN]"

// String formats the spec in the CLI syntax; Parse reads it back.
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
		b.WriteString(s.Span.String())
	}
	return b.String()
}

// String formats the span as Parse and ParseSpan read it: all, prompt,
// generated or pos=A-B,C-D.
func (s Span) String() string {
	if s.Kind != Ranges {
		if s.Kind == "" {
			return string(All)
		}
		return string(s.Kind)
	}
	var b strings.Builder
	b.WriteString(posPrefix)
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%d-%d", r.From, r.To)
	}
	return b.String()
}

// posPrefix starts a span of token positions in the CLI syntax.
const posPrefix = "pos="

// Parse reads EMOTION=STRENGTH[@LAYERS][:SPAN]. LAYERS is a layer list as
// hook.ParseLayerList reads it (L, A:B inclusive, comma lists; negative
// layers count from the end), default the pack's best layer. SPAN is all,
// prompt, generated or pos=A-B,C-D (token positions, inclusive); after a
// layer list the last ":" starts a span only when a span follows it, so
// "calm=0.1@-4:-1" steers layers -4..-1 and "calm=0.1@-4:-1:generated" adds
// a span. Without @LAYERS, bare positions ("calm=0.1:0-5") are a span too.
func Parse(s string) (Spec, error) {
	bad := func(format string, a ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("steer %q: %s (want %s, e.g. calm=0.1@-4:-1:generated)", s, fmt.Sprintf(format, a...), Syntax)
	}
	name, rest, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return bad("missing EMOTION=")
	}
	spec := Spec{Emotion: name, Span: Span{Kind: All}}
	str, layers, hasLayers := strings.Cut(rest, "@")
	var span string
	hasSpan := false
	if hasLayers {
		if k := strings.LastIndex(layers, ":"); k >= 0 && isSpanWord(layers[k+1:]) {
			layers, span, hasSpan = layers[:k], layers[k+1:], true
		}
	} else {
		str, span, hasSpan = strings.Cut(rest, ":")
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
	if err != nil {
		return bad("strength %q is not a number", str)
	}
	spec.Strength = v
	if hasLayers {
		layers = strings.TrimSpace(layers)
		if layers == "" {
			return bad("empty layer list after @")
		}
		if err := hook.CheckLayerList(layers); err != nil {
			if strings.Contains(layers, ":") {
				return bad("%v; a span of token positions is written :pos=A-B", err)
			}
			return bad("%v", err)
		}
		spec.Layers = layers
	}
	if hasSpan {
		sp, err := ParseSpan(span)
		if err != nil {
			return bad("%v", err)
		}
		spec.Span = sp
	}
	if err := spec.Validate(); err != nil {
		return Spec{}, fmt.Errorf("steer %q: %w", s, err)
	}
	return spec, nil
}

// isSpanWord reports whether s, the text after a layer list's last ':', is
// a span keyword rather than the end of a layer range.
func isSpanWord(s string) bool {
	s = strings.TrimSpace(s)
	switch SpanKind(s) {
	case All, Prompt, Generated:
		return true
	}
	return strings.HasPrefix(s, posPrefix)
}

// Validate checks a spec built in code or decoded from JSON as Parse checks
// one it reads: a finite strength of at most MaxStrength in magnitude, an
// emotion or raw vectors, a layer list of the right syntax and a known span.
func (s Spec) Validate() error {
	if math.IsNaN(s.Strength) || math.IsInf(s.Strength, 0) {
		return fmt.Errorf("strength %v is not a finite number", s.Strength)
	}
	if math.Abs(s.Strength) > MaxStrength {
		return fmt.Errorf("strength %g is out of range: |strength| must be at most %d (a fraction of the mean residual norm; the paper uses 0.05 to 0.5)", s.Strength, MaxStrength)
	}
	if s.Raw == nil && strings.TrimSpace(s.Emotion) == "" {
		return fmt.Errorf("no emotion")
	}
	if s.Layers != "" {
		if err := hook.CheckLayerList(s.Layers); err != nil {
			return err
		}
	}
	switch s.Span.Kind {
	case "", All, Prompt, Generated:
	case Ranges:
		if len(s.Span.Ranges) == 0 {
			return fmt.Errorf("span of positions with no ranges")
		}
		for _, r := range s.Span.Ranges {
			if r.From < 0 || r.To < r.From {
				return fmt.Errorf("span range %d-%d is empty or negative", r.From, r.To)
			}
		}
	default:
		return fmt.Errorf("span kind %q (want all, prompt, generated or ranges)", s.Span.Kind)
	}
	return nil
}

// ParseSpan reads "all", "prompt", "generated" or token positions
// "pos=A-B,C-D" (inclusive; the "pos=" may be left out).
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
	for _, part := range strings.Split(strings.TrimPrefix(s, posPrefix), ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		from, err := strconv.Atoi(a)
		if err != nil || from < 0 {
			return Span{}, fmt.Errorf("span %q: %q is not all, prompt, generated or a position range pos=A-B", s, part)
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
