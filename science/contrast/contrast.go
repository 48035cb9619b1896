// Package contrast trains control vectors from contrastive pairs, as repeng
// does: each pair is a positive and a negative text that differ in the
// concept to steer (a persona word in one template, say), the residual
// stream is read at the last token of each text at every layer, and the
// direction is the mean of the differences (positive − negative) or their
// first principal component.
//
// # Pairs file
//
// JSONL, one object a line, of either form:
//
//	{"positive": "I feel so happy today.", "negative": "I feel so sad today."}
//	{"template": "Act as if you are extremely {persona}. {suffix}",
//	 "positive": ["happy", "joyful"], "negative": ["sad", "miserable"],
//	 "suffixes": ["Today I", "The weather is", "My friend said"]}
//
// A template line expands to one pair per (persona pair, suffix): the i-th
// positive persona against the i-th negative one, with {persona} and
// {suffix} filled in (without {suffix} in the template, the suffix is
// appended after a space; without suffixes, the template alone). With
// "chat": true, the template (without the suffix) is the user's turn and the
// suffix starts the assistant's reply, rendered with the model's chat
// template.
//
// # Method
//
//   - "mean": the mean of the differences, the paper's difference of means
//     applied to pairs.
//   - "pca": the first principal component of the differences, not centred
//     (scikit-learn's PCA centres them, which removes the mean difference
//     that a pair set is built to show; uncentred, the component is the
//     direction that best explains the differences themselves). Its sign is
//     chosen so that positives project above negatives for most pairs.
//
// Each layer's vector is stored unnormalised in a vector pack (one emotion,
// the vector's name) with the mean residual norm over every token read, so
// that --steer NAME=STRENGTH means the same as for story-extracted vectors.
// The pairs are split in two halves (even and odd lines of the expanded set):
// a direction trained on one half is scored on the other (the share of pairs
// whose positive projects above its negative), and the layer with the best
// held-out score becomes the pack's best layer.
package contrast

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Pair is one contrastive pair of texts. A Prefix is read before the text
// (BOS, then Prefix, then Text); the activation read is the last token's.
type Pair struct {
	Positive, Negative extract.Text
}

// line is one line of a pairs file.
type line struct {
	Positive json.RawMessage `json:"positive"`
	Negative json.RawMessage `json:"negative"`
	Template string          `json:"template"`
	Suffixes []string        `json:"suffixes"`
	Chat     bool            `json:"chat"`
}

// ChatRenderer renders a user turn and the start of the assistant's reply
// with a model's chat template.
type ChatRenderer func(user, reply string) (string, error)

// ReadPairs reads a pairs file (see the package documentation); name is used
// in errors ("pairs.jsonl:3: ..."). chat renders "chat": true lines and may
// be nil when none has it.
func ReadPairs(r io.Reader, name string, chat ChatRenderer) ([]Pair, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	var out []Pair
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "//") {
			continue
		}
		ps, err := parseLine(text, chat)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, ps...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("%s: %d pairs, want at least 2", name, len(out))
	}
	return out, nil
}

// ReadPairsFile reads a pairs file from disk ("-" is standard input).
func ReadPairsFile(path string, chat ChatRenderer) ([]Pair, error) {
	if path == "-" {
		return ReadPairs(os.Stdin, "<stdin>", chat)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadPairs(f, path, chat)
}

func parseLine(text string, chat ChatRenderer) ([]Pair, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var l line
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("not a pair object: %w", err)
	}
	if l.Template == "" {
		var pos, neg string
		if err := json.Unmarshal(l.Positive, &pos); err != nil || pos == "" {
			return nil, errors.New(`want "positive" and "negative" texts (or a "template" with persona lists)`)
		}
		if err := json.Unmarshal(l.Negative, &neg); err != nil || neg == "" {
			return nil, errors.New(`"negative" must be a non-empty text beside "positive"`)
		}
		if len(l.Suffixes) > 0 || l.Chat {
			return nil, errors.New(`"suffixes" and "chat" go with a "template"`)
		}
		return []Pair{{Positive: extract.Text{Text: pos}, Negative: extract.Text{Text: neg}}}, nil
	}
	var pos, neg []string
	if err := json.Unmarshal(l.Positive, &pos); err != nil {
		return nil, errors.New(`with a "template", "positive" is a list of persona words`)
	}
	if err := json.Unmarshal(l.Negative, &neg); err != nil {
		return nil, errors.New(`with a "template", "negative" is a list of persona words`)
	}
	if len(pos) == 0 || len(pos) != len(neg) {
		return nil, fmt.Errorf(`"positive" has %d personas and "negative" %d: want the same number, at least one`, len(pos), len(neg))
	}
	if !strings.Contains(l.Template, "{persona}") {
		return nil, errors.New(`the template has no {persona}`)
	}
	if l.Chat && chat == nil {
		return nil, errors.New(`"chat": true needs a model with a chat template`)
	}
	sufs := l.Suffixes
	if len(sufs) == 0 {
		sufs = []string{""}
	}
	fill := func(persona, suffix string) (string, error) {
		t := strings.ReplaceAll(l.Template, "{persona}", persona)
		if l.Chat {
			return chat(strings.TrimSpace(strings.ReplaceAll(t, "{suffix}", "")), suffix)
		}
		switch {
		case strings.Contains(t, "{suffix}"):
			return strings.ReplaceAll(t, "{suffix}", suffix), nil
		case suffix == "":
			return t, nil
		}
		return t + " " + suffix, nil
	}
	if n := len(sufs) * len(pos); n > maxExpand {
		return nil, fmt.Errorf("the template expands to %d pairs, more than %d", n, maxExpand)
	}
	var out []Pair
	for _, s := range sufs {
		for i := range pos {
			a, err := fill(pos[i], s)
			if err != nil {
				return nil, err
			}
			b, err := fill(neg[i], s)
			if err != nil {
				return nil, err
			}
			out = append(out, Pair{Positive: extract.Text{Text: a}, Negative: extract.Text{Text: b}})
		}
	}
	return out, nil
}

// maxExpand bounds the pairs one template line makes.
const maxExpand = 100000

// Methods.
const (
	Mean = "mean"
	PCA  = "pca"
)

// Options configure Train.
type Options struct {
	Name   string // the vector's name in the pack (required)
	Method string // Mean (default) or PCA
	Layers []int  // model layers to train (nil: all)
	// Model identifies the model in the pack.
	Model vecpack.ModelInfo
	// Batch is how many texts are read per forward call (default 16).
	Batch    int
	Progress func(done, total int)
}

// LayerScore is one layer's result.
type LayerScore struct {
	Layer int `json:"layer"`
	// HeldOut is the share of held-out pairs (the other half) whose positive
	// projects above its negative, for a direction trained on one half; the
	// two halves' scores are averaged.
	HeldOut float64 `json:"heldout_accuracy"`
	// Train is the same share over all pairs for the full direction.
	Train float64 `json:"train_accuracy"`
	// Separation is the mean projection difference over its spread
	// (mean/std of (h⁺ − h⁻)·v̂; 0 when they do not spread).
	Separation    float64 `json:"separation"`
	MeanResidNorm float64 `json:"mean_resid_norm"`
}

// Result is a trained vector.
type Result struct {
	Pack      *vecpack.Pack
	Scores    []LayerScore
	BestLayer int
	Pairs     int
}

// Train reads every pair through r and computes the direction at each layer.
func Train(ctx context.Context, r extract.Runner, pairs []Pair, o Options) (*Result, error) {
	if o.Name == "" {
		return nil, errors.New("contrast: the vector needs a name")
	}
	if o.Method == "" {
		o.Method = Mean
	}
	if o.Method != Mean && o.Method != PCA {
		return nil, fmt.Errorf("contrast: unknown method %q (want %s or %s)", o.Method, Mean, PCA)
	}
	if len(pairs) < 2 {
		return nil, fmt.Errorf("contrast: %d pairs, want at least 2", len(pairs))
	}
	layers := o.Layers
	if len(layers) == 0 {
		for l := 0; l < r.NumLayers(); l++ {
			layers = append(layers, l)
		}
	}
	layers = slices.Clone(layers)
	slices.Sort(layers)
	layers = slices.Compact(layers)
	for _, l := range layers {
		if l < 0 || l >= r.NumLayers() {
			return nil, fmt.Errorf("contrast: layer %d outside the model's 0..%d", l, r.NumLayers()-1)
		}
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	o.Batch += o.Batch % 2 // a pair's two texts are read in one call
	d := r.DModel()
	n := len(pairs)
	// diffs[li][i] is pair i's last-token difference (positive − negative)
	// at layers[li]; center[li] the mean of the pairs' midpoints.
	diffs := make([][][]float64, len(layers))
	center := make([][]float64, len(layers))
	normSum := make([]float64, len(layers))
	var normCount int64
	for li := range layers {
		diffs[li] = make([][]float64, n)
		center[li] = make([]float64, d)
	}
	texts := make([]extract.Text, 0, 2*n)
	for _, p := range pairs {
		texts = append(texts, p.Positive, p.Negative)
	}
	index := map[int]int{}
	for li, l := range layers {
		index[l] = li
	}
	lastRow := make([][][]float32, len(layers)) // this call's last-token rows
	for start := 0; start < len(texts); start += o.Batch {
		end := min(start+o.Batch, len(texts))
		for li := range layers {
			lastRow[li] = make([][]float32, end-start)
		}
		err := r.Residuals(ctx, texts[start:end], layers, func(i, layer int, rows []float32, textStart int) error {
			li := index[layer]
			T := len(rows) / d
			if T == 0 {
				return fmt.Errorf("contrast: text %d read no tokens", start+i)
			}
			row := slices.Clone(rows[(T-1)*d : T*d])
			for _, x := range row {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return fmt.Errorf("contrast: layer %d: the model's activations are not finite", layer)
				}
			}
			lastRow[li][i] = row
			for t := 0; t < T; t++ {
				normSum[li] += norm(rows[t*d : (t+1)*d])
			}
			if li == 0 {
				normCount += int64(T)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for li := range layers {
			for k := 0; k+1 < end-start; k += 2 {
				a, b := lastRow[li][k], lastRow[li][k+1]
				if a == nil || b == nil {
					return nil, fmt.Errorf("contrast: the model read no activation for pair %d at layer %d", (start+k)/2, layers[li])
				}
				df := make([]float64, d)
				for j := range df {
					df[j] = float64(a[j]) - float64(b[j])
					center[li][j] += (float64(a[j]) + float64(b[j])) / float64(2*n)
				}
				diffs[li][(start+k)/2] = df
			}
		}
		if o.Progress != nil {
			o.Progress(end, len(texts))
		}
	}
	meta := vecpack.NewMeta(o.Model, []string{o.Name}, layers)
	meta.Counts = []int{n}
	meta.Params = map[string]string{"method": o.Method, "pairs": fmt.Sprint(n), "read": "last token"}
	meta.Extra = map[string]any{"source": "contrastive pairs"}
	pack := &vecpack.Pack{Meta: meta}
	res := &Result{Pack: pack, Pairs: n, BestLayer: -1}
	bestAt := -1
	for li, l := range layers {
		dir := direction(diffs[li], o.Method)
		v := make([]float32, d)
		c := make([]float32, d)
		for j := range v {
			v[j] = float32(dir[j])
			c[j] = float32(center[li][j])
		}
		mrn := normSum[li] / float64(normCount)
		pack.Meta.LayerInfo = append(pack.Meta.LayerInfo, vecpack.LayerInfo{Layer: l, MeanResidNorm: mrn, RMSResidNorm: mrn})
		pack.Layers = append(pack.Layers, vecpack.Layer{Raw: v, Denoised: slices.Clone(v), Center: c})
		sc := LayerScore{Layer: l, MeanResidNorm: mrn}
		sc.Train, sc.Separation = score(diffs[li], dir)
		var even, odd [][]float64
		for i, df := range diffs[li] {
			if i%2 == 0 {
				even = append(even, df)
			} else {
				odd = append(odd, df)
			}
		}
		a, _ := score(odd, direction(even, o.Method))
		b, _ := score(even, direction(odd, o.Method))
		sc.HeldOut = (a + b) / 2
		res.Scores = append(res.Scores, sc)
		// The best layer: the highest held-out accuracy, then separation.
		if bestAt < 0 || sc.HeldOut > res.Scores[bestAt].HeldOut ||
			(sc.HeldOut == res.Scores[bestAt].HeldOut && sc.Separation > res.Scores[bestAt].Separation) {
			bestAt, res.BestLayer = li, l
		}
	}
	pack.Meta.BestLayer = res.BestLayer
	if err := pack.Check(); err != nil {
		return nil, fmt.Errorf("contrast: %w", err)
	}
	return res, nil
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// direction is the mean of diffs, or their first uncentred principal
// component with its sign turned towards the mean. The result is not
// normalised for Mean; for PCA it is scaled to the mean difference's
// projection so that both methods give vectors of comparable length.
func direction(diffs [][]float64, method string) []float64 {
	d := len(diffs[0])
	mean := make([]float64, d)
	for _, df := range diffs {
		for j, x := range df {
			mean[j] += x / float64(len(diffs))
		}
	}
	if method == Mean {
		return mean
	}
	pc := topComponent(diffs)
	// Sign: positives above negatives for most pairs.
	pos := 0
	for _, df := range diffs {
		if dot(df, pc) > 0 {
			pos++
		}
	}
	if 2*pos < len(diffs) || (2*pos == len(diffs) && dot(mean, pc) < 0) {
		for j := range pc {
			pc[j] = -pc[j]
		}
	}
	scale := math.Abs(dot(mean, pc))
	for j := range pc {
		pc[j] *= scale
	}
	return pc
}

// topComponent is the unit top right-singular vector of the rows (the
// first principal component without centring), by power iteration on the
// Gram matrix: rows are few, dimensions many.
func topComponent(rows [][]float64) []float64 {
	n, d := len(rows), len(rows[0])
	gram := make([]float64, n*n)
	for i := range n {
		for j := i; j < n; j++ {
			g := dot(rows[i], rows[j])
			gram[i*n+j], gram[j*n+i] = g, g
		}
	}
	u := make([]float64, n)
	for i := range u {
		u[i] = 1 / math.Sqrt(float64(n)) * (1 + 1e-3*float64(i%7))
	}
	next := make([]float64, n)
	for it := 0; it < 500; it++ {
		for i := range n {
			var s float64
			for j := range n {
				s += gram[i*n+j] * u[j]
			}
			next[i] = s
		}
		nn := math.Sqrt(dot(next, next))
		if nn == 0 {
			break
		}
		var change float64
		for i := range next {
			next[i] /= nn
			change = max(change, math.Abs(next[i]-u[i]))
		}
		u, next = next, u
		if change < 1e-12 {
			break
		}
	}
	v := make([]float64, d)
	for i, r := range rows {
		for j, x := range r {
			v[j] += u[i] * x
		}
	}
	if nv := math.Sqrt(dot(v, v)); nv > 0 {
		for j := range v {
			v[j] /= nv
		}
	}
	return v
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// score is the share of diffs with a positive projection on dir, and the
// mean projection over its standard deviation.
func score(diffs [][]float64, dir []float64) (acc, sep float64) {
	nd := math.Sqrt(dot(dir, dir))
	if nd == 0 || len(diffs) == 0 {
		return 0, 0
	}
	proj := make([]float64, len(diffs))
	var pos int
	var mean float64
	for i, df := range diffs {
		proj[i] = dot(df, dir) / nd
		if proj[i] > 0 {
			pos++
		}
		mean += proj[i] / float64(len(diffs))
	}
	var v float64
	for _, p := range proj {
		v += (p - mean) * (p - mean)
	}
	sd := math.Sqrt(v / float64(len(proj)))
	if sd > 0 {
		sep = mean / sd // 0 when the projections do not spread
	}
	return float64(pos) / float64(len(diffs)), sep
}

// Cosines compares a trained vector with emotion's vector in another pack
// (a story-extracted one, say), layer by layer over the layers both have:
// the cosine similarity of the two, with the other pack's vectors of kind k.
// With minus set, the other vector is emotion's minus minus's (happy − sad,
// the contrast a happy–sad pair set is built on).
func Cosines(p *vecpack.Pack, name string, other *vecpack.Pack, emotion, minus string, k vecpack.Kind) (map[int]float64, error) {
	if p.D() != other.D() {
		return nil, fmt.Errorf("contrast: widths differ (%d and %d)", p.D(), other.D())
	}
	out := map[int]float64{}
	for _, l := range p.Meta.Layers {
		if _, err := other.LayerIndex(l); err != nil {
			continue
		}
		a, err := p.Vector(l, name, vecpack.Raw)
		if err != nil {
			return nil, err
		}
		b, err := other.Vector(l, emotion, k)
		if err != nil {
			return nil, err
		}
		if minus != "" {
			m, err := other.Vector(l, minus, k)
			if err != nil {
				return nil, err
			}
			b = slices.Clone(b)
			for i := range b {
				b[i] -= m[i]
			}
		}
		var ab, aa, bb float64
		for i := range a {
			ab += float64(a[i]) * float64(b[i])
			aa += float64(a[i]) * float64(a[i])
			bb += float64(b[i]) * float64(b[i])
		}
		if aa == 0 || bb == 0 {
			return nil, fmt.Errorf("contrast: layer %d: a zero vector", l)
		}
		out[l] = ab / math.Sqrt(aa*bb)
	}
	if len(out) == 0 {
		return nil, errors.New("contrast: the packs share no layer")
	}
	return out, nil
}
