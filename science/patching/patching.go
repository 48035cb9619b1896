package patching

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// Metric is a logit difference at the last position: logit(A) − logit(B).
type Metric struct {
	A, B         int    // token ids
	NameA, NameB string // how they were written, for tables
}

// Eval returns logit(A) − logit(B) from one position's logits.
func (mt Metric) Eval(logits []float32) float64 {
	return float64(logits[mt.A]) - float64(logits[mt.B])
}

// String returns "logit-diff:A,B".
func (mt Metric) String() string { return "logit-diff:" + mt.NameA + "," + mt.NameB }

// ParseMetric parses "logit-diff:TOK_A,TOK_B". Each token is resolved by
// lookup: its text (one token) or "#ID". A token that is not one token is an
// error naming it.
func ParseMetric(s string, lookup func(string) (int, error)) (Metric, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || kind != "logit-diff" {
		return Metric{}, fmt.Errorf("metric %q: want logit-diff:TOK_A,TOK_B", s)
	}
	a, b, ok := strings.Cut(rest, ",")
	if !ok || a == "" || b == "" {
		return Metric{}, fmt.Errorf("metric %q: want two tokens, logit-diff:TOK_A,TOK_B", s)
	}
	ia, err := lookup(a)
	if err != nil {
		return Metric{}, fmt.Errorf("metric %q: token A: %w", s, err)
	}
	ib, err := lookup(b)
	if err != nil {
		return Metric{}, fmt.Errorf("metric %q: token B: %w", s, err)
	}
	if ia == ib {
		return Metric{}, fmt.Errorf("metric %q: tokens A and B are the same token (%d)", s, ia)
	}
	return Metric{A: ia, B: ib, NameA: a, NameB: b}, nil
}

// ParseTokenID parses "#ID" into a token id checked against vocab; ok is
// false when s is not of that form.
func ParseTokenID(s string, vocab int) (id int, ok bool, err error) {
	r, ok := strings.CutPrefix(s, "#")
	if !ok {
		return 0, false, nil
	}
	id, err = strconv.Atoi(r)
	if err != nil || id < 0 || id >= vocab {
		return 0, true, fmt.Errorf("%q is not a token id (0..%d)", s, vocab-1)
	}
	return id, true, nil
}

// Result is a patching sweep: one row per hook point (layer), one column
// per position.
type Result struct {
	Hook       string      `json:"hook"`   // the hook pattern swept
	Metric     string      `json:"metric"` // logit-diff:A,B
	Points     []string    `json:"points"` // the hook point of each row
	Layers     []int       `json:"layers"`
	Tokens     []string    `json:"tokens"` // the corrupted prompt's tokens, for column labels
	Clean      float64     `json:"clean"`
	Corrupt    float64     `json:"corrupt"`
	Patched    [][]float64 `json:"patched"`    // [row][position]
	Normalized [][]float64 `json:"normalized"` // (patched − corrupt) / (clean − corrupt)
}

// Sweep runs the patching sweep of the hook pattern (for instance
// "blocks.*.hook_resid_pre") from clean into corrupt. The prompts must have
// the same number of tokens. tokens labels the positions (nil: their ids).
func Sweep(m *arch.Transformer, clean, corrupt []int, pattern string, mt Metric, labels []string) (*Result, error) {
	if len(clean) == 0 || len(corrupt) == 0 {
		return nil, fmt.Errorf("patching: empty prompt")
	}
	if len(clean) != len(corrupt) {
		return nil, fmt.Errorf("patching: the clean prompt has %d tokens, the corrupted %d: they must tokenize to the same length", len(clean), len(corrupt))
	}
	for _, t := range []int{mt.A, mt.B} {
		if t < 0 || t >= m.Vocab {
			return nil, fmt.Errorf("patching: metric token %d outside the vocabulary (0..%d)", t, m.Vocab-1)
		}
	}
	pts, err := hook.Expand(pattern, m.Layers)
	if err != nil {
		return nil, fmt.Errorf("patching: %w", err)
	}
	for _, p := range pts {
		if !p.Kind.InBlock() {
			return nil, fmt.Errorf("patching: hook %s: want a block hook with a layer list (blocks.*.hook_resid_pre)", p)
		}
	}
	cl, err := model.CaptureWith(m, clean, []string{pattern}, nil)
	if err != nil {
		return nil, err
	}
	// The clean and corrupted values come from Run, as the patched ones
	// do, so that a patch that changes nothing gives exactly 0.
	n := len(clean)
	res := &Result{Hook: pattern, Metric: mt.String()}
	if res.Clean, err = Run(m, clean, nil, mt); err != nil {
		return nil, err
	}
	if res.Corrupt, err = Run(m, corrupt, nil, mt); err != nil {
		return nil, err
	}
	den := res.Clean - res.Corrupt
	if !(math.Abs(den) > 1e-6) {
		return nil, fmt.Errorf("patching: the metric %s is %g on the clean prompt and %g on the corrupted one: nothing to restore", mt, res.Clean, res.Corrupt)
	}
	for i := 0; i < n; i++ {
		if labels != nil && i < len(labels) {
			res.Tokens = append(res.Tokens, labels[i])
		} else {
			res.Tokens = append(res.Tokens, strconv.Itoa(corrupt[i]))
		}
	}
	for _, p := range pts {
		c := cl.Hook(p)
		row, norm := make([]float64, n), make([]float64, n)
		for pos := 0; pos < n; pos++ {
			v, err := Run(m, corrupt, []*model.Patch{model.PatchFromCapture(c, []int{pos})}, mt)
			if err != nil {
				return nil, err
			}
			row[pos], norm[pos] = v, (v-res.Corrupt)/den+0 // +0: no -0 in tables
		}
		res.Points = append(res.Points, p.String())
		res.Layers = append(res.Layers, p.Layer)
		res.Patched = append(res.Patched, row)
		res.Normalized = append(res.Normalized, norm)
	}
	return res, nil
}

// Run runs tokens with the patches and returns the metric at the last position.
func Run(m *arch.Transformer, tokens []int, patches []*model.Patch, mt Metric) (float64, error) {
	var hs hook.Set
	for _, p := range patches {
		hs.Add(p.Point, p.Func())
	}
	seq := &arch.Seq{Cache: m.NewCache(), Hooks: &hs, Logits: arch.LastLogits}
	for start := 0; start < len(tokens); start += model.PrefillChunk {
		seq.Tokens = tokens[start:min(start+model.PrefillChunk, len(tokens))]
		if err := m.Forward([]*arch.Seq{seq}); err != nil {
			return 0, err
		}
	}
	return mt.Eval(seq.Out), nil
}

// WriteJSON writes the result as indented JSON (atomically).
func (r *Result) WriteJSON(path string) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(r)
	})
}

// WriteTSV writes one line per cell: point, layer, position, token,
// patched, normalized (atomically), after a header line.
func (r *Result) WriteTSV(path string) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		if _, err := fmt.Fprintf(w, "# %s clean %g corrupt %g\npoint\tlayer\tposition\ttoken\tpatched\tnormalized\n", r.Metric, r.Clean, r.Corrupt); err != nil {
			return err
		}
		for i, p := range r.Points {
			for pos, v := range r.Patched[i] {
				tok := strings.NewReplacer("\t", `\t`, "\n", `\n`).Replace(r.Tokens[pos])
				if _, err := fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%g\t%g\n", p, r.Layers[i], pos, tok, v, r.Normalized[i][pos]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
