package validate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// Unembedder reads a residual-stream direction as next-token logits; the
// engine implements it.
type Unembedder interface {
	// Unembed applies the model's final norm and unembedding to v (a
	// residual-stream vector of width d_model) and returns one logit per
	// vocabulary token.
	Unembed(v []float32) []float32
	// TokenText returns a token's text, for display.
	TokenText(id int) string
}

// Options configure a validation.
type Options struct {
	Kind          vecpack.Kind // Denoised (default) or Raw
	Layers        []int        // pack layers to analyse (nil = all)
	Core          []string     // core emotions (nil = catalog.CoreNames())
	Restarts      int          // k-means restarts (default 10)
	Seed          uint64       // k-means seed
	Unembedder    Unembedder   // nil: no logit lens
	LensAllLayers bool         // logit lens at every layer, not only the best
	LensK         int          // tokens per side (default 5)
}

// Result holds every number of a validation. Its JSON is what
// `limbic validate --json` prints and report.json stores.
type Result struct {
	Core          *Summary          `json:"core"` // core-set figures at the best layer (null without core emotions)
	All           *Summary          `json:"all"`  // all the run's emotions at the best layer
	BestLayer     int               `json:"best_layer"`
	BestLayerRule string            `json:"best_layer_rule"`
	Layers        []LayerResult     `json:"layers"`
	Model         vecpack.ModelInfo `json:"model"`
	Kind          string            `json:"vectors"` // "denoised" or "raw"
	Emotions      []EmotionInfo     `json:"emotions"`
	CoreEmotions  []string          `json:"core_emotions"`
	HeldOut       int               `json:"heldout_stories"`
	Handwritten   *HeldOutScore     `json:"handwritten,omitempty"` // the hand-written stories at every layer (set by the caller, see Score)
	Params        map[string]any    `json:"params"`
}

// EmotionInfo is an emotion with its paper cluster ("" when it has none).
type EmotionInfo struct {
	Name        string `json:"name"`
	Cluster     string `json:"cluster,omitempty"`
	ClusterRank int    `json:"cluster_rank"` // -1 without a cluster
	Valence     int    `json:"valence"`      // +1, -1, 0 without a cluster
	Train       int    `json:"train_stories"`
	HeldOut     int    `json:"heldout_stories"`
}

// Summary is the headline of an analysis at one layer.
type Summary struct {
	Layer              int      `json:"layer"`
	Emotions           int      `json:"n_emotions"`
	Stories            int      `json:"stories"`
	Top1               float64  `json:"top1"`
	Top5               float64  `json:"top5"`
	Chance             float64  `json:"chance_top1"`
	Top1Uncentered     float64  `json:"top1_uncentered"`
	PC1SignAgreement   *float64 `json:"pc1_sign_agreement"`
	PC1ValenceSpearman *float64 `json:"pc1_valence_spearman"`
	PC1Explained       float64  `json:"pc1_explained"`
	PC2Explained       float64  `json:"pc2_explained"`
	ARI                *float64 `json:"kmeans_ari"`
}

// LayerResult holds the analyses of one layer.
type LayerResult struct {
	Layer int       `json:"layer"`
	Depth float64   `json:"depth"` // (layer+1)/n_layers
	All   *Analysis `json:"all"`
	Core  *Analysis `json:"core,omitempty"`
}

// Analysis is the set of analyses over one set of emotions at one layer.
type Analysis struct {
	Emotions           []string      `json:"emotions"`
	Stories            int           `json:"stories"`
	Top1               float64       `json:"top1"`
	Top5               float64       `json:"top5"`
	Top1Uncentered     float64       `json:"top1_uncentered"`
	Top5Uncentered     float64       `json:"top5_uncentered"`
	PerEmotionTop1     []*float64    `json:"per_emotion_top1"` // null where an emotion has no held-out story
	Confusion          [][]int       `json:"confusion"`        // [true][predicted]
	Cosine             [][]float64   `json:"cosine"`
	PCA                PCAResult     `json:"pca"`
	PC1SignAgreement   *float64      `json:"pc1_sign_agreement"`
	PC1ValenceSpearman *float64      `json:"pc1_valence_spearman"`
	KMeans             *KMeansResult `json:"kmeans"`
	Lens               []LensEntry   `json:"logit_lens,omitempty"`
}

// PCAResult is the PCA of the unit vectors.
type PCAResult struct {
	Explained   []float64 `json:"explained"` // variance share of each PC (up to 10)
	PC1         []float64 `json:"pc1"`       // per emotion
	PC2         []float64 `json:"pc2"`
	OrientedBy  string    `json:"pc1_oriented_by"` // the emotion made positive on PC1, "" if none
	PC2Oriented string    `json:"pc2_oriented_by"`
}

// KMeansResult compares k-means clusters with the paper's.
type KMeansResult struct {
	K        int      `json:"k"`
	Emotions []string `json:"emotions"` // those with a paper cluster
	Labels   []int    `json:"labels"`
	Paper    []int    `json:"paper_labels"` // paper cluster ranks
	ARI      float64  `json:"ari"`
	Inertia  float64  `json:"inertia"`
}

// LensEntry is the logit lens of one emotion vector.
type LensEntry struct {
	Emotion string       `json:"emotion"`
	Top     []TokenScore `json:"top"`
	Bottom  []TokenScore `json:"bottom"`
}

// TokenScore is one token and its logit.
type TokenScore struct {
	ID    int     `json:"id"`
	Text  string  `json:"text"`
	Logit float64 `json:"logit"`
}

var pc1Anchors = []string{"happy", "joyful", "cheerful", "delighted", "excited", "content", "calm"}

// Run validates pack p on the held-out set h.
func Run(p *vecpack.Pack, h *vecpack.HeldOut, opt Options) (*Result, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if h == nil || h.Len() == 0 {
		return nil, errors.New("validate: no held-out stories (generate more stories or raise the held-out share)")
	}
	if err := p.CheckModel(h.Model); err != nil {
		return nil, fmt.Errorf("validate: held-out set: %w", err)
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	if !slices.Equal(h.Emotions, p.Meta.Emotions) {
		return nil, errors.New("validate: the held-out set and the vector pack list different emotions")
	}
	if opt.Restarts <= 0 {
		opt.Restarts = 10
	}
	if opt.LensK <= 0 {
		opt.LensK = 5
	}
	core := opt.Core
	if core == nil {
		core = catalog.CoreNames()
	}
	layers := opt.Layers
	if layers == nil {
		layers = p.Meta.Layers
	}
	n := len(p.Meta.Emotions)
	res := &Result{Model: p.Meta.Model, Kind: opt.Kind.String(), HeldOut: h.Len(),
		Params: map[string]any{"token_offset": p.Meta.TokenOffset, "short_policy": p.Meta.ShortPolicy,
			"variance_fraction": p.Meta.VarianceFraction, "kmeans_restarts": opt.Restarts, "kmeans_seed": opt.Seed,
			"neutral_texts": p.Meta.NeutralTexts, "skipped_stories": p.Meta.SkippedStories, "hook": p.Meta.Hook}}
	for k, v := range p.Meta.Params {
		res.Params[k] = v
	}
	heldCounts := make([]int, n)
	for _, l := range h.Labels {
		heldCounts[l]++
	}
	all := make([]int, n)
	var coreIdx []int
	for e, name := range p.Meta.Emotions {
		all[e] = e
		info := EmotionInfo{Name: name, ClusterRank: -1, Train: p.Meta.Counts[e], HeldOut: heldCounts[e]}
		if c, ok := catalog.ClusterOf(name); ok {
			info.Cluster, info.ClusterRank, info.Valence = c.Name, c.Rank, c.Valence
		}
		res.Emotions = append(res.Emotions, info)
		if slices.Contains(core, name) {
			coreIdx = append(coreIdx, e)
			res.CoreEmotions = append(res.CoreEmotions, name)
		}
	}
	sameAsAll := len(coreIdx) == n
	for _, l := range layers {
		pi, err := p.LayerIndex(l)
		if err != nil {
			return nil, err
		}
		hi := slices.Index(h.Layers, l)
		if hi < 0 {
			return nil, fmt.Errorf("validate: the held-out set has no means at layer %d", l)
		}
		lr := LayerResult{Layer: l, Depth: float64(l+1) / float64(max(p.Meta.Model.NLayers, 1))}
		lr.All = analyse(p, h, pi, hi, all, res.Emotions, opt)
		if len(coreIdx) >= 2 && !sameAsAll {
			lr.Core = analyse(p, h, pi, hi, coreIdx, res.Emotions, opt)
		}
		res.Layers = append(res.Layers, lr)
	}
	// Best layer: highest top-1, ties to the layer nearest 2/3 depth.
	best := 0
	for i := 1; i < len(res.Layers); i++ {
		a, b := res.Layers[i], res.Layers[best]
		if a.All.Top1 > b.All.Top1+1e-12 ||
			(math.Abs(a.All.Top1-b.All.Top1) <= 1e-12 && math.Abs(a.Depth-2.0/3) < math.Abs(b.Depth-2.0/3)-1e-12) {
			best = i
		}
	}
	res.BestLayer = res.Layers[best].Layer
	res.BestLayerRule = "highest held-out top-1 over all emotions; ties to the layer nearest 2/3 depth"
	if opt.Unembedder != nil {
		for i := range res.Layers {
			if !opt.LensAllLayers && i != best {
				continue
			}
			lr := &res.Layers[i]
			pi, _ := p.LayerIndex(lr.Layer)
			lr.All.Lens = lens(p, pi, all, opt)
			if lr.Core != nil {
				lr.Core.Lens = lens(p, pi, coreIdx, opt)
			}
		}
	}
	bl := res.Layers[best]
	res.All = summarize(bl.Layer, bl.All)
	switch {
	case bl.Core != nil:
		res.Core = summarize(bl.Layer, bl.Core)
	case sameAsAll:
		res.Core = res.All
	}
	return res, nil
}

func summarize(layer int, a *Analysis) *Summary {
	s := &Summary{Layer: layer, Emotions: len(a.Emotions), Stories: a.Stories, Top1: a.Top1, Top5: a.Top5,
		Chance: 1 / float64(len(a.Emotions)), Top1Uncentered: a.Top1Uncentered,
		PC1SignAgreement: a.PC1SignAgreement, PC1ValenceSpearman: a.PC1ValenceSpearman}
	if len(a.PCA.Explained) > 0 {
		s.PC1Explained = a.PCA.Explained[0]
	}
	if len(a.PCA.Explained) > 1 {
		s.PC2Explained = a.PCA.Explained[1]
	}
	if a.KMeans != nil {
		ari := a.KMeans.ARI
		s.ARI = &ari
	}
	return s
}

// subset returns the vectors of the chosen emotions at pack layer pi,
// re-centred on their own mean, and the matching centre for stories.
func subset(p *vecpack.Pack, pi int, idx []int, kind vecpack.Kind) (vecs [][]float64, center []float64) {
	d := p.D()
	L := &p.Layers[pi]
	m := L.Denoised
	if kind == vecpack.Raw {
		m = L.Raw
	}
	meanV, meanRaw := make([]float64, d), make([]float64, d)
	for _, e := range idx {
		v := make([]float64, d)
		for j := 0; j < d; j++ {
			v[j] = float64(m[e*d+j])
			meanV[j] += v[j] / float64(len(idx))
			meanRaw[j] += float64(L.Raw[e*d+j]) / float64(len(idx))
		}
		vecs = append(vecs, v)
	}
	center = make([]float64, d)
	for j := 0; j < d; j++ {
		center[j] = float64(L.Center[j]) + meanRaw[j]
	}
	for _, v := range vecs {
		for j := range v {
			v[j] -= meanV[j]
		}
	}
	return vecs, center
}

func unitRows(vs [][]float64) [][]float64 {
	out := make([][]float64, len(vs))
	for i, v := range vs {
		u := slices.Clone(v)
		var s float64
		for _, x := range u {
			s += x * x
		}
		if s > 0 {
			s = 1 / math.Sqrt(s)
			for j := range u {
				u[j] *= s
			}
		}
		out[i] = u
	}
	return out
}

func analyse(p *vecpack.Pack, h *vecpack.HeldOut, pi, hi int, idx []int, infos []EmotionInfo, opt Options) *Analysis {
	vecs, center := subset(p, pi, idx, opt.Kind)
	units := unitRows(vecs)
	k := len(idx)
	a := &Analysis{Confusion: make([][]int, k), PerEmotionTop1: make([]*float64, k)}
	pos := map[int]int{}
	for i, e := range idx {
		pos[e] = i
		a.Emotions = append(a.Emotions, p.Meta.Emotions[e])
		a.Confusion[i] = make([]int, k)
	}

	// Classification of held-out stories.
	d := p.D()
	correct := make([]int, k)
	totals := make([]int, k)
	var top1, top5, top1u, top5u int
	scores, uscores := make([]float64, k), make([]float64, k)
	for s, label := range h.Labels {
		li, ok := pos[label]
		if !ok {
			continue
		}
		x := h.Story(hi, s)
		for i, u := range units {
			var sc, su float64
			for j := 0; j < d; j++ {
				xj := float64(x[j])
				sc += (xj - center[j]) * u[j]
				su += xj * u[j]
			}
			scores[i], uscores[i] = sc, su
		}
		r := rankOf(scores, li)
		ru := rankOf(uscores, li)
		a.Stories++
		totals[li]++
		a.Confusion[li][argmax(scores)]++
		if r == 0 {
			top1++
			correct[li]++
		}
		if r < 5 {
			top5++
		}
		if ru == 0 {
			top1u++
		}
		if ru < 5 {
			top5u++
		}
	}
	if a.Stories > 0 {
		n := float64(a.Stories)
		a.Top1, a.Top5, a.Top1Uncentered, a.Top5Uncentered = float64(top1)/n, float64(top5)/n, float64(top1u)/n, float64(top5u)/n
	}
	for i := range totals {
		if totals[i] > 0 {
			v := float64(correct[i]) / float64(totals[i])
			a.PerEmotionTop1[i] = &v
		}
	}

	// Cosine similarities.
	a.Cosine = make([][]float64, k)
	for i := range units {
		a.Cosine[i] = make([]float64, k)
		for j := range units {
			var s float64
			for t := range units[i] {
				s += units[i][t] * units[j][t]
			}
			a.Cosine[i][j] = round(s, 4)
		}
	}

	// PCA of the unit vectors.
	a.PCA = pca(units, a.Emotions)
	var signOK, signN int
	var pc1, val []float64
	for i, e := range idx {
		info := infos[e]
		if info.ClusterRank < 0 || len(a.PCA.PC1) == 0 {
			continue
		}
		signN++
		if (a.PCA.PC1[i] > 0 && info.Valence > 0) || (a.PCA.PC1[i] < 0 && info.Valence < 0) {
			signOK++
		}
		pc1 = append(pc1, a.PCA.PC1[i])
		val = append(val, -float64(info.ClusterRank))
	}
	if signN > 0 {
		v := float64(signOK) / float64(signN)
		a.PC1SignAgreement = &v
	}
	if sp := Spearman(pc1, val); !math.IsNaN(sp) {
		a.PC1ValenceSpearman = &sp
	}

	// k-means against the paper clusters.
	var kx [][]float64
	km := &KMeansResult{}
	distinct := map[int]bool{}
	for i, e := range idx {
		if infos[e].ClusterRank >= 0 {
			kx = append(kx, units[i])
			km.Emotions = append(km.Emotions, a.Emotions[i])
			km.Paper = append(km.Paper, infos[e].ClusterRank)
			distinct[infos[e].ClusterRank] = true
		}
	}
	km.K = len(distinct)
	if km.K >= 2 && len(kx) > km.K {
		km.Labels, km.Inertia = KMeans(kx, km.K, opt.Restarts, opt.Seed)
		km.ARI = ARI(km.Labels, km.Paper)
		a.KMeans = km
	}
	return a
}

// rankOf returns how many scores beat scores[i] (ties broken by index).
func rankOf(scores []float64, i int) int {
	r := 0
	for j, s := range scores {
		if s > scores[i] || (s == scores[i] && j < i) {
			r++
		}
	}
	return r
}

func argmax(x []float64) int {
	b := 0
	for i := range x {
		if x[i] > x[b] {
			b = i
		}
	}
	return b
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func pca(units [][]float64, names []string) PCAResult {
	var r PCAResult
	n := len(units)
	if n < 2 {
		return r
	}
	d := len(units[0])
	x := mat.NewDense(n, d, nil)
	mean := make([]float64, d)
	for _, u := range units {
		for j, v := range u {
			mean[j] += v / float64(n)
		}
	}
	for i, u := range units {
		for j, v := range u {
			x.Set(i, j, v-mean[j])
		}
	}
	var svd mat.SVD
	if !svd.Factorize(x, mat.SVDThin) {
		return r
	}
	sv := svd.Values(nil)
	var total float64
	for _, s := range sv {
		total += s * s
	}
	if total == 0 {
		return r
	}
	for i, s := range sv {
		if i >= 10 {
			break
		}
		r.Explained = append(r.Explained, round(s*s/total, 6))
	}
	var u mat.Dense
	svd.UTo(&u)
	coord := func(c int) []float64 {
		out := make([]float64, n)
		if c >= len(sv) {
			return out
		}
		for i := 0; i < n; i++ {
			out[i] = u.At(i, c) * sv[c]
		}
		return out
	}
	r.PC1, r.PC2 = coord(0), coord(1)
	for _, a := range pc1Anchors {
		if i := slices.Index(names, a); i >= 0 {
			if r.PC1[i] < 0 {
				neg(r.PC1)
			}
			r.OrientedBy = a
			break
		}
	}
	hiA, loA := slices.Index(names, "excited"), slices.Index(names, "calm")
	if hiA >= 0 && loA >= 0 {
		if r.PC2[hiA] < r.PC2[loA] {
			neg(r.PC2)
		}
		r.PC2Oriented = "excited above calm"
	} else {
		b := 0
		for i := range r.PC2 {
			if math.Abs(r.PC2[i]) > math.Abs(r.PC2[b]) {
				b = i
			}
		}
		if r.PC2[b] < 0 {
			neg(r.PC2)
		}
		r.PC2Oriented = "largest coordinate positive"
	}
	for i := range r.PC1 {
		r.PC1[i], r.PC2[i] = round(r.PC1[i], 6), round(r.PC2[i], 6)
	}
	return r
}

func neg(x []float64) {
	for i := range x {
		x[i] = -x[i]
	}
}

func lens(p *vecpack.Pack, pi int, idx []int, opt Options) []LensEntry {
	vecs, _ := subset(p, pi, idx, opt.Kind)
	units := unitRows(vecs)
	var out []LensEntry
	for i, u := range units {
		v := make([]float32, len(u))
		for j, x := range u {
			v[j] = float32(x)
		}
		logits := opt.Unembedder.Unembed(v)
		order := make([]int, len(logits))
		for t := range order {
			order[t] = t
		}
		sort.SliceStable(order, func(a, b int) bool { return logits[order[a]] > logits[order[b]] })
		e := LensEntry{Emotion: p.Meta.Emotions[idx[i]]}
		kk := min(opt.LensK, len(order))
		for _, t := range order[:kk] {
			e.Top = append(e.Top, TokenScore{ID: t, Text: opt.Unembedder.TokenText(t), Logit: round(float64(logits[t]), 4)})
		}
		for j := len(order) - 1; j >= len(order)-kk; j-- {
			t := order[j]
			e.Bottom = append(e.Bottom, TokenScore{ID: t, Text: opt.Unembedder.TokenText(t), Logit: round(float64(logits[t]), 4)})
		}
		out = append(out, e)
	}
	return out
}
