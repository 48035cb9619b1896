package validate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func TestARI(t *testing.T) {
	tests := []struct {
		a, b []int
		want float64
	}{ // values from scikit-learn's adjusted_rand_score documentation
		{[]int{0, 0, 1, 1}, []int{0, 0, 1, 1}, 1},
		{[]int{0, 0, 1, 1}, []int{1, 1, 0, 0}, 1},
		{[]int{0, 0, 1, 2}, []int{0, 0, 1, 1}, 0.5714285714285714},
		{[]int{0, 0, 1, 1}, []int{0, 0, 1, 2}, 0.5714285714285714},
		{[]int{0, 0, 0, 0}, []int{0, 1, 2, 3}, 0},
		{[]int{0, 0, 1, 1}, []int{0, 1, 0, 1}, -0.5},
		{[]int{3, 3, 3}, []int{5, 5, 5}, 1},
	}
	for _, tt := range tests {
		if got := ARI(tt.a, tt.b); !(approx.Diff(got, tt.want) <= 1e-12) {
			t.Errorf("ARI(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if !math.IsNaN(ARI([]int{0}, []int{0})) {
		t.Error("ARI of one item should be NaN")
	}
}

func TestSpearman(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		x, y []float64
		want float64 // NaN: undefined
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 2, 3, 4, 5}, []float64{2, 1, 4, 3, 5}, 0.8},
		// Ties: ranks of y are (1.5, 1.5, 3, 4); Pearson with (1, 2, 3, 4).
		{[]float64{1, 2, 3, 4}, []float64{0, 0, 1, 2}, 0.9486832980505138},
		// Undefined: a constant series has no ranking; too few pairs.
		{[]float64{1, 1}, []float64{1, 2}, nan},
		{[]float64{1, 2, 3}, []float64{1, 1, 1}, nan},
		{[]float64{1}, []float64{1}, nan},
		{[]float64{1, 2, 3}, []float64{1, 2}, nan},
	}
	for _, tt := range tests {
		got := Spearman(tt.x, tt.y)
		if math.IsNaN(tt.want) != math.IsNaN(got) || !math.IsNaN(tt.want) && !(approx.Diff(got, tt.want) <= 1e-12) {
			t.Errorf("Spearman(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

func TestKMeansSeparatedBlobs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x [][]float64
	var truth []int
	for c := 0; c < 5; c++ {
		for i := 0; i < 8; i++ {
			p := make([]float64, 6)
			for j := range p {
				p[j] = rng.NormFloat64() * 0.1
			}
			p[c] += 5
			x = append(x, p)
			truth = append(truth, c)
		}
	}
	labels, inertia := KMeans(x, 5, 10, 7)
	if ari := ARI(labels, truth); ari != 1 {
		t.Errorf("ARI %v, want 1 (labels %v)", ari, labels)
	}
	again, inertia2 := KMeans(x, 5, 10, 7)
	if !slices.Equal(labels, again) || inertia != inertia2 {
		t.Error("k-means is not deterministic for a seed")
	}
	if l, _ := KMeans(x[:3], 5, 1, 1); len(l) != 3 {
		t.Error("k > n")
	}
}

// synthPack plants, for each emotion, a direction made of a shared valence
// axis (sign from the paper cluster) and an emotion-specific part, and draws
// held-out story means around centre + vector.
func synthPack(t *testing.T, emotions []string, d int, layers []int, noise []float64, seed uint64) (*vecpack.Pack, *vecpack.HeldOut) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	model := vecpack.ModelInfo{ID: "synth", Hash: "sha256:00", DModel: d, NLayers: 6}
	m := vecpack.NewMeta(model, emotions, layers)
	m.Counts = make([]int, len(emotions))
	for i := range m.Counts {
		m.Counts[i] = 10
	}
	p := &vecpack.Pack{Meta: m}
	h := vecpack.NewHeldOut(model, emotions, layers)
	n := len(emotions)
	valenceAxis := make([]float64, d)
	valenceAxis[0] = 1
	perStory := map[int][][]float32{} // story → per-layer
	labels := []int{}
	for li := range layers {
		raw := make([]float32, n*d)
		center := make([]float32, d)
		for j := range center {
			center[j] = float32(rng.NormFloat64() * 10)
		}
		vecs := make([][]float64, n)
		for e, name := range emotions {
			v := make([]float64, d)
			val, _ := catalog.Valence(name)
			v[0] = 3 * float64(val)
			for j := 1; j < d; j++ {
				v[j] = rng.NormFloat64()
			}
			vecs[e] = v
		}
		// centre the vectors
		for j := 0; j < d; j++ {
			var s float64
			for e := range vecs {
				s += vecs[e][j]
			}
			for e := range vecs {
				vecs[e][j] -= s / float64(n)
				raw[e*d+j] = float32(vecs[e][j])
			}
		}
		p.Layers = append(p.Layers, vecpack.Layer{Raw: raw, Denoised: slices.Clone(raw), Center: center})
		p.Meta.LayerInfo = append(p.Meta.LayerInfo, vecpack.LayerInfo{Layer: layers[li]})
		s := 0
		for e := range emotions {
			for k := 0; k < 6; k++ {
				x := make([]float32, d)
				for j := range x {
					x[j] = center[j] + float32(vecs[e][j]+rng.NormFloat64()*noise[li])
				}
				perStory[s] = append(perStory[s], x)
				if li == 0 {
					labels = append(labels, e)
				}
				s++
			}
		}
	}
	for s, e := range labels {
		if err := h.Add("s"+string(rune('a'+s%26)), e, perStory[s]); err != nil {
			t.Fatal(err)
		}
	}
	return p, h
}

type identityLens struct{}

func (identityLens) Unembed(v []float32) []float32 { return slices.Clone(v) }
func (identityLens) TokenText(id int) string       { return "tok" + string(rune('A'+id%26)) }

func TestRunCoreSet(t *testing.T) {
	core := catalog.CoreNames()
	// Layer 1 is clean, layers 0 and 2 noisy.
	p, h := synthPack(t, core, 24, []int{0, 1, 2}, []float64{3, 0.3, 3}, 1)
	res, err := Run(p, h, Options{Unembedder: identityLens{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.BestLayer != 1 {
		t.Errorf("best layer %d, want 1", res.BestLayer)
	}
	if res.Core == nil || res.Core != res.All || !(res.Core.Top1 >= 0.95 && res.Core.Top5 >= res.Core.Top1) {
		t.Fatalf("core summary %+v", res.Core)
	}
	if res.Core.PC1SignAgreement == nil || *res.Core.PC1SignAgreement != 1 {
		t.Errorf("pc1 sign agreement %v, want 1", res.Core.PC1SignAgreement)
	}
	if res.Core.PC1ValenceSpearman == nil || !(*res.Core.PC1ValenceSpearman >= 0.5) {
		t.Errorf("spearman %v", res.Core.PC1ValenceSpearman)
	}
	if !(approx.Diff(res.Core.Chance, 1.0/16) <= 1e-12) {
		t.Errorf("chance %v", res.Core.Chance)
	}
	best := res.Layers[1].All
	if best.PCA.OrientedBy != "happy" || !(best.PCA.PC1[slices.Index(best.Emotions, "happy")] > 0) {
		t.Errorf("PC1 orientation: %q", best.PCA.OrientedBy)
	}
	if best.KMeans == nil || best.KMeans.K != 8 || len(best.KMeans.Labels) != 16 {
		t.Errorf("kmeans %+v", best.KMeans)
	}
	// Confusion rows sum to the stories of each emotion; the diagonal is the
	// top-1 count.
	var diag, total int
	for i, row := range best.Confusion {
		for j, c := range row {
			total += c
			if i == j {
				diag += c
			}
		}
	}
	if total != best.Stories || !(approx.Diff(float64(diag)/float64(total), best.Top1) <= 1e-12) {
		t.Errorf("confusion: %d of %d on the diagonal, top1 %v", diag, total, best.Top1)
	}
	for i := range best.Cosine {
		if best.Cosine[i][i] != 1 {
			t.Errorf("cosine diagonal %v", best.Cosine[i][i])
		}
	}
	// Logit lens only at the best layer; with an identity unembedding the top
	// token is the largest coordinate of the unit vector.
	if res.Layers[0].All.Lens != nil || len(best.Lens) != 16 || len(best.Lens[0].Top) != 5 || len(best.Lens[0].Bottom) != 5 {
		t.Fatalf("lens: %d entries", len(best.Lens))
	}
	if !(best.Lens[0].Top[0].Logit >= best.Lens[0].Top[1].Logit && best.Lens[0].Bottom[0].Logit <= best.Lens[0].Bottom[1].Logit) {
		t.Error("lens order")
	}

	// The JSON has the documented shape.
	b, _ := json.Marshal(res)
	var shape struct {
		Core *struct {
			Top1, Top5       *float64
			PC1SignAgreement *float64 `json:"pc1_sign_agreement"`
		} `json:"core"`
		BestLayer *int              `json:"best_layer"`
		Layers    []json.RawMessage `json:"layers"`
	}
	if err := json.Unmarshal(b, &shape); err != nil || shape.Core == nil || shape.Core.Top1 == nil || shape.Core.Top5 == nil ||
		shape.Core.PC1SignAgreement == nil || shape.BestLayer == nil || len(shape.Layers) != 3 {
		t.Errorf("JSON shape: %s", b[:min(len(b), 300)])
	}
}

func TestRunFullSetHasSeparateCore(t *testing.T) {
	emotions := append(catalog.CoreNames(), "blissful", "hostile", "serene", "paranoid", "glad-custom")
	p, h := synthPack(t, emotions, 32, []int{3}, []float64{0.3}, 2)
	res, err := Run(p, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layers[0]
	if l.Core == nil || len(l.Core.Emotions) != 16 || len(l.All.Emotions) != 21 || res.Core == res.All || res.Core.Emotions != 16 {
		t.Fatalf("core analysis missing or wrong")
	}
	if l.Core.Stories != 16*6 || l.All.Stories != 21*6 {
		t.Errorf("stories %d / %d", l.Core.Stories, l.All.Stories)
	}
	// "glad-custom" has no paper cluster: left out of k-means and sign agreement.
	if slices.Contains(l.All.KMeans.Emotions, "glad-custom") || len(l.All.KMeans.Emotions) != 20 {
		t.Errorf("k-means emotions %v", l.All.KMeans.Emotions)
	}
	if res.Emotions[20].ClusterRank != -1 || res.Emotions[16].Cluster != "Exuberant Joy" {
		t.Errorf("emotion infos %+v", res.Emotions[16:])
	}
}

func TestBestLayerTieGoesToTwoThirds(t *testing.T) {
	// All layers perfectly separable: top-1 ties at 1; 6 layers → depth 2/3 is layer 3.
	p, h := synthPack(t, catalog.CoreNames(), 24, []int{0, 1, 2, 3, 4, 5}, []float64{0.01, 0.01, 0.01, 0.01, 0.01, 0.01}, 3)
	res, err := Run(p, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.BestLayer != 3 {
		t.Errorf("best layer %d, want 3 (ties at top-1 %v)", res.BestLayer, res.All.Top1)
	}
}

func TestRunErrors(t *testing.T) {
	p, h := synthPack(t, catalog.CoreNames(), 8, []int{0}, []float64{1}, 4)
	if _, err := Run(p, nil, Options{}); err == nil || !strings.Contains(err.Error(), "no held-out") {
		t.Errorf("nil held-out: %v", err)
	}
	other := *h
	other.Model.DModel = 16
	other.Model.ID = "bigger"
	if _, err := Run(p, &other, Options{}); err == nil || !strings.Contains(err.Error(), "vector pack was made for model synth (d=8), not bigger (d=16)") {
		t.Errorf("other model: %v", err)
	}
	if _, err := Run(p, h, Options{Layers: []int{2}}); err == nil || !strings.Contains(err.Error(), "layer 2 was not extracted") {
		t.Errorf("missing layer: %v", err)
	}
}
