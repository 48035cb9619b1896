// Package hook names the points in a transformer's forward pass where
// activations can be read and written, and holds the per-call sets of hook
// functions that the engine runs there.
//
// Names follow TransformerLens, with 0-based layers. Activations are shaped
// [pos, d_model] unless noted:
//
//	hook_embed                     token embeddings (scaled, for Gemma), before block 0
//	hook_pos_embed                 learned position embeddings (GPT-2 only)
//	blocks.{L}.hook_resid_pre      residual stream entering block L
//	blocks.{L}.ln1.hook_normalized output of the pre-attention norm
//	blocks.{L}.attn.hook_q         queries [pos, head, d_head], before q-norm and rotary
//	blocks.{L}.attn.hook_k         keys [pos, kv_head, d_head], before k-norm and rotary
//	blocks.{L}.attn.hook_v         values [pos, kv_head, d_head]
//	blocks.{L}.attn.hook_attn_scores  scaled (soft-capped) scores before the softmax
//	blocks.{L}.attn.hook_pattern   attention weights after the softmax
//	blocks.{L}.attn.hook_z         weighted values [pos, head, d_head], before W_O
//	blocks.{L}.hook_attn_out       attention output, before it is added to the residual
//	blocks.{L}.hook_resid_mid      residual stream after the attention add
//	blocks.{L}.ln2.hook_normalized output of the pre-MLP norm
//	blocks.{L}.mlp.hook_pre        MLP pre-activation [pos, d_mlp] (the gate, when gated)
//	blocks.{L}.mlp.hook_post       MLP activation [pos, d_mlp] (act(gate)·up, when gated)
//	blocks.{L}.hook_mlp_out        MLP output, before it is added to the residual
//	blocks.{L}.hook_resid_post     residual stream leaving block L
//	ln_final.hook_normalized       output of the final norm, before the unembedding
//
// The scores and the pattern of one forward call reach a hook one row per
// query position, each row [head, key] over every key of the sequence so far
// (the cache included): Act.Dim is Heads·Keys. Keys a query does not attend
// (later positions, or outside a sliding window) hold -Inf in the scores and
// 0 in the pattern; the softmax reads only the attended keys. Capture files
// store them as TransformerLens does, [head, query_pos, key_pos].
//
// Hooks are passed per forward call and per sequence (a Set), never registered
// globally. A nil or empty Set costs one nil check per point.
//
// The package imports nothing outside the standard library.
package hook

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the kind of a hook point.
type Kind uint8

// The hook point kinds, in the order the forward pass reaches them within a block.
const (
	Embed Kind = iota
	PosEmbed
	ResidPre
	Ln1
	AttnQ
	AttnK
	AttnV
	AttnScores
	AttnPattern
	AttnZ
	AttnOut
	ResidMid
	Ln2
	MLPPre
	MLPPost
	MLPOut
	ResidPost
	LnFinal
	NumKinds
)

var kindNames = [NumKinds]string{
	Embed:       "hook_embed",
	PosEmbed:    "hook_pos_embed",
	ResidPre:    "hook_resid_pre",
	Ln1:         "ln1.hook_normalized",
	AttnQ:       "attn.hook_q",
	AttnK:       "attn.hook_k",
	AttnV:       "attn.hook_v",
	AttnScores:  "attn.hook_attn_scores",
	AttnPattern: "attn.hook_pattern",
	AttnZ:       "attn.hook_z",
	AttnOut:     "hook_attn_out",
	ResidMid:    "hook_resid_mid",
	Ln2:         "ln2.hook_normalized",
	MLPPre:      "mlp.hook_pre",
	MLPPost:     "mlp.hook_post",
	MLPOut:      "hook_mlp_out",
	ResidPost:   "hook_resid_post",
	LnFinal:     "hook_normalized",
}

// InBlock reports whether points of this kind belong to a block (have a layer).
func (k Kind) InBlock() bool { return k >= ResidPre && k <= ResidPost }

// Residual reports whether points of this kind are d_model wide: the
// embeddings, the residual stream, the norms' outputs and the attention and
// MLP outputs.
func (k Kind) Residual() bool {
	switch k {
	case AttnQ, AttnK, AttnV, AttnScores, AttnPattern, AttnZ, MLPPre, MLPPost:
		return false
	}
	return k < NumKinds
}

// Attention reports whether points of this kind need the attention weights
// materialised (hook_attn_scores, hook_pattern).
func (k Kind) Attention() bool { return k == AttnScores || k == AttnPattern }

// String returns the hook name of the kind ("hook_resid_post").
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Point is one hook point. Layer is meaningful only for block kinds; it is -1
// for Embed and LnFinal.
type Point struct {
	Layer int
	Kind  Kind
}

// Block returns the point of kind k in block layer.
func Block(layer int, k Kind) Point { return Point{Layer: layer, Kind: k} }

// Named points outside the blocks.
var (
	EmbedPoint    = Point{Layer: -1, Kind: Embed}
	PosEmbedPoint = Point{Layer: -1, Kind: PosEmbed}
	LnFinalPoint  = Point{Layer: -1, Kind: LnFinal}
)

// String returns the TransformerLens name of the point.
func (p Point) String() string {
	switch p.Kind {
	case Embed, PosEmbed:
		return kindNames[p.Kind]
	case LnFinal:
		return "ln_final.hook_normalized"
	}
	return "blocks." + strconv.Itoa(p.Layer) + "." + p.Kind.String()
}

// Parse parses one hook point name for a model with nLayers blocks.
// Besides the TransformerLens names it accepts negative layers (-1 is the last
// block), "resid_post" style names without the "hook_" prefix, and llama.cpp's
// "l_out-L", which is blocks.L.hook_resid_post (where llama.cpp adds control
// vectors).
func Parse(name string, nLayers int) (Point, error) {
	s := strings.TrimSpace(name)
	switch s {
	case "hook_embed", "embed":
		return EmbedPoint, nil
	case "hook_pos_embed", "pos_embed":
		return PosEmbedPoint, nil
	case "ln_final.hook_normalized", "ln_final", "hook_normalized":
		return LnFinalPoint, nil
	}
	if rest, ok := strings.CutPrefix(s, "l_out-"); ok {
		l, err := parseLayer(rest, nLayers)
		if err != nil {
			return Point{}, fmt.Errorf("hook %q: %w", name, err)
		}
		return Block(l, ResidPost), nil
	}
	rest, ok := strings.CutPrefix(s, "blocks.")
	if !ok {
		return Point{}, fmt.Errorf("hook %q: unknown hook point (want blocks.L.NAME with NAME one of %s; hook_embed, hook_pos_embed or ln_final.hook_normalized)", name, blockNames())
	}
	ls, ks, ok := strings.Cut(rest, ".")
	if !ok {
		return Point{}, fmt.Errorf("hook %q: missing hook name after the layer", name)
	}
	l, err := parseLayer(ls, nLayers)
	if err != nil {
		return Point{}, fmt.Errorf("hook %q: %w", name, err)
	}
	k, err := parseKind(ks)
	if err != nil {
		return Point{}, fmt.Errorf("hook %q: %w", name, err)
	}
	return Block(l, k), nil
}

// parseKind parses the name of a block hook after "blocks.L.": the
// TransformerLens name, or the same without its "hook_" ("resid_post",
// "attn.pattern", "ln1.normalized").
func parseKind(s string) (Kind, error) {
	for k := ResidPre; k <= ResidPost; k++ {
		n := kindNames[k]
		if s == n || s == strings.Replace(n, "hook_", "", 1) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown block hook %q (want one of %s)", s, blockNames())
}

// blockNames lists the block hook names, for error messages.
func blockNames() string {
	var b strings.Builder
	for k := ResidPre; k <= ResidPost; k++ {
		if k > ResidPre {
			b.WriteString(", ")
		}
		b.WriteString(kindNames[k])
	}
	return b.String()
}

func parseLayer(s string, nLayers int) (int, error) {
	l, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("layer %q is not an integer", s)
	}
	return resolveLayer(l, nLayers)
}

// Expand turns a pattern into the points it names, in forward order. A pattern
// is a point name whose layer may be any layer list (see ParseLayerList:
// "*", "2", "-1", "1:3", "-4:-1", "0,2,5"), or "*" alone for every d_model-wide point
// of the model (All). Example: "blocks.*.hook_resid_post".
func Expand(pattern string, nLayers int) ([]Point, error) {
	s := strings.TrimSpace(pattern)
	if s == "*" {
		return All(nLayers), nil
	}
	rest, ok := strings.CutPrefix(s, "blocks.")
	if !ok {
		p, err := Parse(s, nLayers)
		if err != nil {
			return nil, err
		}
		return []Point{p}, nil
	}
	ls, ks, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, fmt.Errorf("hook pattern %q: missing hook name after the layer", pattern)
	}
	k, err := parseKind(ks)
	if err != nil {
		return nil, fmt.Errorf("hook pattern %q: %w", pattern, err)
	}
	layers, err := ParseLayerList(ls, nLayers)
	if err != nil {
		return nil, fmt.Errorf("hook pattern %q: %w", pattern, err)
	}
	out := make([]Point, len(layers))
	for i, l := range layers {
		out[i] = Block(l, k)
	}
	return out, nil
}

// LayerListSyntax describes the layer list grammar, for error messages and help.
const LayerListSyntax = "L, A:B (inclusive), a comma list of those, or * (negative layers count from the end: -1 is the last)"

// ParseLayerList parses a layer list for a model with nLayers blocks, the
// one layer grammar of hook patterns, steering and readout:
//
//	L        one layer; negative counts from the end (-1 is the last)
//	A:B      layers A to B, both included ("-4:-1" is the last four)
//	A-B      the same, for non-negative A and B only ("2-4")
//	X,Y,...  the union of the items above
//	"*"      every layer
//
// It returns the layers in increasing order, each once. An empty range
// (B before A) or a layer outside the model is an error.
func ParseLayerList(s string, nLayers int) ([]int, error) {
	items, err := layerItems(s)
	if err != nil {
		return nil, err
	}
	if nLayers <= 0 {
		return nil, fmt.Errorf("layers %q: the model has no layers", s)
	}
	seen := make([]bool, nLayers)
	for _, it := range items {
		if it.all {
			for l := range seen {
				seen[l] = true
			}
			continue
		}
		lo, err := resolveLayer(it.lo, nLayers)
		if err != nil {
			return nil, fmt.Errorf("layers %q: %w", s, err)
		}
		hi, err := resolveLayer(it.hi, nLayers)
		if err != nil {
			return nil, fmt.Errorf("layers %q: %w", s, err)
		}
		if hi < lo {
			return nil, fmt.Errorf("layers %q: range %q is empty (layer %d comes after layer %d)", s, it.text, lo, hi)
		}
		for l := lo; l <= hi; l++ {
			seen[l] = true
		}
	}
	var out []int
	for l, ok := range seen {
		if ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// CheckLayerList checks the syntax of a layer list without a model; the
// layers are checked against the model by ParseLayerList.
func CheckLayerList(s string) error {
	_, err := layerItems(s)
	return err
}

// layerItem is one item of a layer list: every layer, or layers lo..hi as
// written (negative: from the end).
type layerItem struct {
	all    bool
	lo, hi int
	text   string
}

func layerItems(s string) ([]layerItem, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty layer list (want %s)", LayerListSyntax)
	}
	var out []layerItem
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "*" {
			out = append(out, layerItem{all: true, text: item})
			continue
		}
		a, b, isRange := strings.Cut(item, ":")
		if !isRange && !strings.HasPrefix(item, "-") {
			if a, b, isRange = strings.Cut(item, "-"); strings.HasPrefix(b, "-") {
				return nil, fmt.Errorf("layers %q: %q: a range with a negative end is written A:B", s, item)
			}
		}
		lo, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("layers %q: %q is not a layer (want %s)", s, item, LayerListSyntax)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
				return nil, fmt.Errorf("layers %q: %q is not a layer range (want %s)", s, item, LayerListSyntax)
			}
		}
		out = append(out, layerItem{lo: lo, hi: hi, text: item})
	}
	return out, nil
}

// resolveLayer turns a written layer (negative: from the end) into a block index.
func resolveLayer(l, nLayers int) (int, error) {
	w := l
	if l < 0 {
		l += nLayers
	}
	if l < 0 || l >= nLayers {
		return 0, fmt.Errorf("layer %d out of range: the model has %d layers (0..%d, or -%d..-1 from the end)", w, nLayers, nLayers-1, nLayers)
	}
	return l, nil
}

// All returns the d_model-wide hook points of a model with nLayers blocks
// (Kind.Residual), in forward order; hook_pos_embed is left out (it exists
// only for models with learned positions). See AllKinds for every point.
func All(nLayers int) []Point {
	out := []Point{EmbedPoint}
	for l := 0; l < nLayers; l++ {
		for k := ResidPre; k <= ResidPost; k++ {
			if k.Residual() {
				out = append(out, Block(l, k))
			}
		}
	}
	return append(out, LnFinalPoint)
}

// AllKinds returns every hook point of a model with nLayers blocks, in
// forward order, hook_pos_embed included when posEmbed.
func AllKinds(nLayers int, posEmbed bool) []Point {
	out := []Point{EmbedPoint}
	if posEmbed {
		out = append(out, PosEmbedPoint)
	}
	for l := 0; l < nLayers; l++ {
		for k := ResidPre; k <= ResidPost; k++ {
			out = append(out, Block(l, k))
		}
	}
	return append(out, LnFinalPoint)
}

// Act is one sequence's activations at one hook point during a forward call:
// Rows consecutive positions starting at absolute position Pos, each a vector
// of Dim values. A hook may read Data and may write to it in place: writes
// change the rest of the forward pass.
type Act struct {
	Point Point
	Seq   int // index of the sequence within the batched call
	Pos   int // absolute position of the first row in its sequence
	Rows  int
	Dim   int
	Data  []float32 // [Rows, Dim], row-major
	// Heads is the number of heads a row holds for the per-head points
	// (q, k, v, z: [head, d_head]; scores, pattern: [head, key]), else 0.
	Heads int
}

// Row returns row i (position Pos+i).
func (a *Act) Row(i int) []float32 { return a.Data[i*a.Dim : (i+1)*a.Dim : (i+1)*a.Dim] }

// Func is a hook function.
type Func func(a *Act)

// Set is the hooks of one sequence for one forward call (or a whole
// generation). The zero value and nil are empty sets.
type Set struct {
	fns map[Point][]Func
}

// Add registers f at p. Functions at the same point run in the order added.
func (s *Set) Add(p Point, f Func) {
	if s.fns == nil {
		s.fns = make(map[Point][]Func)
	}
	s.fns[p] = append(s.fns[p], f)
}

// Empty reports whether the set has no hooks; nil is empty.
func (s *Set) Empty() bool { return s == nil || len(s.fns) == 0 }

// Has reports whether any hook is set at p.
func (s *Set) Has(p Point) bool { return s != nil && len(s.fns[p]) > 0 }

// Run calls the hooks at a.Point in order. It is a no-op on a nil set.
func (s *Set) Run(a *Act) {
	if s == nil {
		return
	}
	for _, f := range s.fns[a.Point] {
		f(a)
	}
}

// Points returns the points that have hooks, in no particular order.
func (s *Set) Points() []Point {
	if s == nil {
		return nil
	}
	out := make([]Point, 0, len(s.fns))
	for p := range s.fns {
		out = append(out, p)
	}
	return out
}

// Merge returns a set with the hooks of a followed by those of b. Either may be nil.
func Merge(a, b *Set) *Set {
	if a.Empty() {
		return b
	}
	if b.Empty() {
		return a
	}
	out := &Set{fns: make(map[Point][]Func, len(a.fns)+len(b.fns))}
	for p, fs := range a.fns {
		out.fns[p] = append([]Func(nil), fs...)
	}
	for p, fs := range b.fns {
		out.fns[p] = append(out.fns[p], fs...)
	}
	return out
}
