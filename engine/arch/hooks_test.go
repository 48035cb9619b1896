package arch

import (
	"fmt"
	"math"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/internal/approx"
)

// refBlock is a float64 transformer block written from the Hugging Face
// modelling code of Llama/Mistral (RMSNorm, q/k/v projections, rope on
// halves, grouped-query heads, sliding window, gated SiLU MLP) and GPT-2
// (LayerNorm, Conv1D c_attn split into q, k, v, tanh-GELU MLP), applied to
// the n rows x of the residual stream entering block l. It returns every
// hook point of the block in the engine's layout: [pos, head, d_head] for
// q, k, v, z; [query, head, key] for scores (-Inf where masked) and pattern
// (0 where masked).
func refBlock(t *testing.T, c *Config, src MapSource, l int, x []float32, n int) map[hook.Kind][]float64 {
	t.Helper()
	get := func(name string) []float64 {
		x, ok := src[name]
		if !ok {
			return nil
		}
		v, err := x.F32()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(v))
		for i, f := range v {
			out[i] = float64(f)
		}
		return out
	}
	gpt2 := c.Arch == "gpt2"
	norm := func(v []float64, name string) []float64 {
		out := make([]float64, len(v))
		if gpt2 {
			w, b := get(name+".weight"), get(name+".bias")
			mean, vr := 0.0, 0.0
			for _, a := range v {
				mean += a
			}
			mean /= float64(len(v))
			for _, a := range v {
				vr += (a - mean) * (a - mean)
			}
			r := 1 / math.Sqrt(vr/float64(len(v))+c.NormEps)
			for i, a := range v {
				out[i] = (a-mean)*r*w[i] + b[i]
			}
			return out
		}
		w := get(name + ".weight")
		ss := 0.0
		for _, a := range v {
			ss += a * a
		}
		r := 1 / math.Sqrt(ss/float64(len(v))+c.NormEps)
		for i, a := range v {
			out[i] = a * r * w[i]
		}
		return out
	}
	// linear is a Linear [out, in] (Llama) or a Conv1D [in, out] (GPT-2)
	// with its optional bias; for a Conv1D, outputs [lo, hi) only.
	linear := func(v []float64, name string, lo, hi int) []float64 {
		w, b := get(name+".weight"), get(name+".bias")
		in := len(v)
		total := len(w) / in
		if hi == 0 {
			hi = total
		}
		out := make([]float64, hi-lo)
		for o := lo; o < hi; o++ {
			for i := 0; i < in; i++ {
				if gpt2 {
					out[o-lo] += w[i*total+o] * v[i]
				} else {
					out[o-lo] += w[o*in+i] * v[i]
				}
			}
			if b != nil {
				out[o-lo] += b[o]
			}
		}
		return out
	}
	hd, d, H, KV := c.HeadDim, c.Dim, c.Heads, c.KVHeads
	inv := c.InvFreq(false) // checked against written-out frequencies in TestLlama3RopeFrequencies
	rope := func(v []float64, pos int) []float64 {
		u := append([]float64(nil), v...)
		if gpt2 {
			return u
		}
		for h := 0; h < len(u)/hd; h++ {
			w := u[h*hd : (h+1)*hd]
			for i := 0; i < hd/2; i++ {
				a, b := w[i], w[i+hd/2]
				cs, sn := math.Cos(float64(pos)*inv[i]), math.Sin(float64(pos)*inv[i])
				w[i], w[i+hd/2] = a*cs-b*sn, a*sn+b*cs
			}
		}
		return u
	}
	p := fmt.Sprintf("model.layers.%d.", l)
	n1, n2 := p+"input_layernorm", p+"post_attention_layernorm"
	if gpt2 {
		p = fmt.Sprintf("transformer.h.%d.", l)
		n1, n2 = p+"ln_1", p+"ln_2"
	}
	out := map[hook.Kind][]float64{}
	put := func(k hook.Kind, v []float64) { out[k] = append(out[k], v...) }
	rows := make([][]float64, n)
	qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
	for r := 0; r < n; r++ {
		rows[r] = make([]float64, d)
		for i := range rows[r] {
			rows[r][i] = float64(x[r*d+i])
		}
		xn := norm(rows[r], n1)
		put(hook.Ln1, xn)
		if gpt2 {
			qs[r] = linear(xn, p+"attn.c_attn", 0, d)
			ks[r] = linear(xn, p+"attn.c_attn", d, 2*d)
			vs[r] = linear(xn, p+"attn.c_attn", 2*d, 3*d)
		} else {
			qs[r] = linear(xn, p+"self_attn.q_proj", 0, 0)
			ks[r] = linear(xn, p+"self_attn.k_proj", 0, 0)
			vs[r] = linear(xn, p+"self_attn.v_proj", 0, 0)
		}
		put(hook.AttnQ, qs[r])
		put(hook.AttnK, ks[r])
		put(hook.AttnV, vs[r])
	}
	scale := 1 / math.Sqrt(float64(hd))
	sliding := c.Sliding != nil && c.Sliding[l]
	for r := 0; r < n; r++ {
		q := rope(qs[r], r)
		z := make([]float64, H*hd)
		for h := 0; h < H; h++ {
			g := h / (H / KV)
			sc, pat := make([]float64, n), make([]float64, n)
			mx, sum := math.Inf(-1), 0.0
			for j := range sc {
				sc[j] = math.Inf(-1)
				if j > r || (sliding && j <= r-c.SlidingWindow) {
					continue
				}
				k := rope(ks[j], j)
				s := 0.0
				for i := 0; i < hd; i++ {
					s += q[h*hd+i] * k[g*hd+i]
				}
				sc[j] = s * scale
				mx = math.Max(mx, sc[j])
			}
			for j, s := range sc {
				if !math.IsInf(s, -1) {
					pat[j] = math.Exp(s - mx)
					sum += pat[j]
				}
			}
			for j := range pat {
				pat[j] /= sum
				for i := 0; i < hd; i++ {
					z[h*hd+i] += pat[j] * vs[j][g*hd+i]
				}
			}
			put(hook.AttnScores, sc)
			put(hook.AttnPattern, pat)
		}
		put(hook.AttnZ, z)
		var o []float64
		if gpt2 {
			o = linear(z, p+"attn.c_proj", 0, 0)
		} else {
			o = linear(z, p+"self_attn.o_proj", 0, 0)
		}
		put(hook.AttnOut, o)
		mid := make([]float64, d)
		for i := range mid {
			mid[i] = rows[r][i] + o[i]
		}
		put(hook.ResidMid, mid)
		xn := norm(mid, n2)
		put(hook.Ln2, xn)
		var pre, post, down []float64
		if gpt2 {
			pre = linear(xn, p+"mlp.c_fc", 0, 0)
			post = make([]float64, len(pre))
			for i, a := range pre {
				post[i] = 0.5 * a * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(a+0.044715*a*a*a)))
			}
			down = linear(post, p+"mlp.c_proj", 0, 0)
		} else {
			pre = linear(xn, p+"mlp.gate_proj", 0, 0)
			up := linear(xn, p+"mlp.up_proj", 0, 0)
			post = make([]float64, len(pre))
			for i, a := range pre {
				post[i] = a / (1 + math.Exp(-a)) * up[i]
			}
			down = linear(post, p+"mlp.down_proj", 0, 0)
		}
		put(hook.MLPPre, pre)
		put(hook.MLPPost, post)
		put(hook.MLPOut, down)
		res := make([]float64, d)
		for i := range res {
			res[i] = mid[i] + down[i]
		}
		put(hook.ResidPost, res)
	}
	return out
}

// TestHookPointsFloat64Reference runs random Llama, Mistral (sliding window)
// and GPT-2 models over 9 tokens in two calls (5, then 4 against the
// cache), capturing every hook point, and checks each against a float64
// re-computation from the checkpoint tensors: the embeddings directly, each
// block from its captured hook_resid_pre.
func TestHookPointsFloat64Reference(t *testing.T) {
	cfgs := tinyConfigs(t)
	toks := []int{3, 17, 42, 5, 9, 60, 1, 33, 8}
	for _, fam := range []string{"llama", "mistral", "gpt2"} {
		c := cfgs[fam]
		m, src := randomModel(t, c, 7)
		var hs hook.Set
		caps := map[hook.Point]*hook.Capture{}
		for _, p := range hook.AllKinds(m.Layers, m.PosEmbed) {
			caps[p] = &hook.Capture{Point: p}
			hs.Add(p, caps[p].Func())
		}
		s := &Seq{Cache: m.NewCache(), Hooks: &hs}
		for _, part := range [][]int{toks[:5], toks[5:]} {
			s.Tokens = part
			if err := m.Forward([]*Seq{s}); err != nil {
				t.Fatal(err)
			}
		}
		check := func(p hook.Point, want []float64) {
			t.Helper()
			got := caps[p]
			if got == nil || len(got.Data) != len(want) {
				t.Errorf("%s %s: %d values, want %d", fam, p, len(got.Data), len(want))
				return
			}
			worst := 0.0
			for i, w := range want {
				if math.IsInf(w, -1) {
					if !math.IsInf(float64(got.Data[i]), -1) {
						t.Errorf("%s %s[%d] = %g, want -Inf (masked)", fam, p, i, got.Data[i])
						return
					}
					continue
				}
				worst = approx.Worst(worst, approx.RelDiff(float64(got.Data[i]), w))
			}
			if !(worst <= 1e-4) {
				t.Errorf("%s %s: differs from the float64 reference by %g", fam, p, worst)
			}
		}
		// Embeddings.
		row := func(name string, i int) []float64 {
			v, _ := src[name].F32()
			out := make([]float64, c.Dim)
			for j := range out {
				out[j] = float64(v[i*c.Dim+j])
			}
			return out
		}
		var emb, pos, pre0 []float64
		for i, tk := range toks {
			if fam == "gpt2" {
				e, p := row("transformer.wte.weight", tk), row("transformer.wpe.weight", i)
				emb, pos = append(emb, e...), append(pos, p...)
				for j := range e {
					pre0 = append(pre0, e[j]+p[j])
				}
			} else {
				e := row("model.embed_tokens.weight", tk)
				emb, pre0 = append(emb, e...), append(pre0, e...)
			}
		}
		check(hook.EmbedPoint, emb)
		if fam == "gpt2" {
			check(hook.PosEmbedPoint, pos)
		} else if caps[hook.PosEmbedPoint] != nil {
			t.Errorf("%s: hook_pos_embed set on a model without learned positions", fam)
		}
		check(hook.Block(0, hook.ResidPre), pre0)
		for l := 0; l < m.Layers; l++ {
			want := refBlock(t, &m.Config, src, l, caps[hook.Block(l, hook.ResidPre)].Data, len(toks))
			for k := hook.Ln1; k <= hook.ResidPost; k++ {
				check(hook.Block(l, k), want[k])
			}
		}
	}
}

// TestAttentionHooksWritable checks that the attention hooks write into the
// forward pass: a pattern made one-hot on key 0 makes hook_z every row the
// value of position 0; a zeroed hook_q makes the pattern uniform over the
// attended keys; and a hook that only reads the pattern (the plain
// attention path) leaves the logits as the fast kernel computes them.
func TestAttentionHooksWritable(t *testing.T) {
	for _, fam := range []string{"llama", "gemma2"} {
		c := tinyConfigs(t)[fam]
		m, _ := randomModel(t, c, 3)
		toks := []int{3, 17, 42, 5, 9, 60}
		run := func(hs *hook.Set) []float32 {
			s := &Seq{Cache: m.NewCache(), Tokens: toks, Hooks: hs, Logits: AllLogits}
			if err := m.Forward([]*Seq{s}); err != nil {
				t.Fatal(err)
			}
			return s.Out
		}
		base := run(nil)

		// Read-only pattern hooks on every layer: same logits.
		var ro hook.Set
		for l := 0; l < m.Layers; l++ {
			ro.Add(hook.Block(l, hook.AttnPattern), func(*hook.Act) {})
			ro.Add(hook.Block(l, hook.AttnScores), func(*hook.Act) {})
		}
		if d := approx.MaxAbsDiff(run(&ro), base); !(d <= 1e-4) {
			t.Errorf("%s: logits with read-only attention hooks differ from the kernel's by %g", fam, d)
		}

		// One-hot pattern on key 0 at layer 1.
		var oh hook.Set
		v, z := &hook.Capture{}, &hook.Capture{}
		oh.Add(hook.Block(1, hook.AttnV), v.Func())
		oh.Add(hook.Block(1, hook.AttnPattern), func(a *hook.Act) {
			keys := a.Dim / a.Heads
			for i := range a.Data {
				a.Data[i] = 0
				if i%keys == 0 {
					a.Data[i] = 1
				}
			}
		})
		oh.Add(hook.Block(1, hook.AttnZ), z.Func())
		out := run(&oh)
		if d := approx.MaxAbsDiff(out, base); !(d > 1e-3) {
			t.Errorf("%s: a one-hot pattern left the logits unchanged (max diff %g)", fam, d)
		}
		hd, group := m.HeadDim, m.Heads/m.KVHeads
		worst := 0.0
		for r := 0; r < len(toks); r++ {
			for h := 0; h < m.Heads; h++ {
				g := h / group
				for i := 0; i < hd; i++ {
					got := z.Data[r*m.QDim()+h*hd+i]
					want := v.Data[g*hd+i] // hook_v is before rope; values are never rotated
					worst = approx.Worst(worst, approx.Diff(got, want))
				}
			}
		}
		if !(worst <= 1e-6) {
			t.Errorf("%s: with a one-hot pattern, hook_z differs from v[0] by %g", fam, worst)
		}

		// Zero queries: uniform attention over the attended keys.
		var zq hook.Set
		pat := &hook.Capture{}
		zq.Add(hook.Block(0, hook.AttnQ), func(a *hook.Act) { clear(a.Data) })
		zq.Add(hook.Block(0, hook.AttnPattern), pat.Func())
		run(&zq)
		keys := len(toks)
		for r := 0; r < len(toks); r++ {
			lo := 0
			if c.Sliding != nil && c.Sliding[0] {
				lo = max(0, r-c.SlidingWindow+1)
			}
			for h := 0; h < m.Heads; h++ {
				for j := 0; j < keys; j++ {
					want := float32(0)
					if j >= lo && j <= r {
						want = 1 / float32(r-lo+1)
					}
					if got := pat.Data[(r*m.Heads+h)*keys+j]; !(math.Abs(float64(got-want)) <= 1e-6) {
						t.Fatalf("%s: zero queries: pattern[%d, head %d, key %d] = %g, want %g", fam, r, h, j, got, want)
					}
				}
			}
		}
	}
}

// TestEveryKindEveryFamily captures every hook point of every family over a
// prefill and a decode step: each fires once per position with its
// TransformerLens width, and every pattern row sums to 1 over the keys
// attended (the sliding window and soft-capping included).
func TestEveryKindEveryFamily(t *testing.T) {
	for fam, c := range tinyConfigs(t) {
		m, _ := randomModel(t, c, 1)
		toks := []int{1, 2, 3, 4, 5, 6, 7}
		var hs hook.Set
		caps := map[hook.Point]*hook.Capture{}
		for _, p := range hook.AllKinds(m.Layers, m.PosEmbed) {
			caps[p] = &hook.Capture{}
			hs.Add(p, caps[p].Func())
		}
		s := &Seq{Cache: m.NewCache(), Hooks: &hs, Logits: LastLogits}
		for _, part := range [][]int{toks[:6], toks[6:]} {
			s.Tokens = part
			if err := m.Forward([]*Seq{s}); err != nil {
				t.Fatal(err)
			}
		}
		n := len(toks)
		for p, cp := range caps {
			want := m.Dim
			switch p.Kind {
			case hook.AttnQ, hook.AttnZ:
				want = m.QDim()
			case hook.AttnK, hook.AttnV:
				want = m.KVDim()
			case hook.AttnScores, hook.AttnPattern:
				want = m.Heads * n
			case hook.MLPPre, hook.MLPPost:
				want = m.FFN
			}
			if cp.Rows() != n || cp.Dim != want || len(cp.Data) != n*want {
				t.Errorf("%s %s: %d rows × %d, want %d × %d", fam, p, cp.Rows(), cp.Dim, n, want)
				continue
			}
			if p.Kind != hook.AttnPattern {
				continue
			}
			for i := 0; i < n*m.Heads; i++ {
				sum := 0.0
				for _, v := range cp.Data[i*n : (i+1)*n] {
					sum += float64(v)
				}
				if !(math.Abs(sum-1) <= 1e-5) {
					t.Errorf("%s %s: row %d sums to %g, want 1", fam, p, i, sum)
					break
				}
			}
		}
	}
}

// BenchmarkDecodeStepPatternHook is BenchmarkDecodeStep with a read-only
// hook_pattern on every layer: the cost of the plain attention path.
func BenchmarkDecodeStepPatternHook(b *testing.B) {
	m, s := decodeSetup(b, allocConfigs(b)["llama"])
	var hs hook.Set
	for l := 0; l < m.Layers; l++ {
		hs.Add(hook.Block(l, hook.AttnPattern), func(*hook.Act) {})
	}
	s.Hooks = &hs
	b.ReportAllocs()
	for b.Loop() {
		s.Cache.Truncate(5)
		if err := m.Forward([]*Seq{s}); err != nil {
			b.Fatal(err)
		}
	}
}
