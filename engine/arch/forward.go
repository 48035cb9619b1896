package arch

import (
	"fmt"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
)

// Logits selects which logits a sequence wants from a forward call.
type Logits uint8

// Logits requests.
const (
	NoLogits   Logits = iota // residuals only (extraction)
	LastLogits               // the last new position (generation)
	AllLogits                // every new position
)

// Seq is one sequence's part of a batched forward call.
type Seq struct {
	Cache  *Cache    // positions already processed; the new tokens follow them
	Tokens []int     // new tokens
	Hooks  *hook.Set // hooks for this sequence; nil for none
	Logits Logits
	// Out receives the logits: [1, Vocab] for LastLogits, [len(Tokens), Vocab]
	// for AllLogits. Forward reuses its capacity.
	Out []float32
}

// batch is the per-call bookkeeping: where each sequence's rows start, and
// the position of each row.
type batch struct {
	seqs  []*Seq
	off   []int // first row of each sequence
	pos   []int // absolute position of every row
	rows  int
	hooks bool // any sequence has hooks
}

// run calls the hooks at point p for every sequence, on its rows of x.
func (b *batch) run(p hook.Point, x []float32, dim int) {
	if !b.hooks {
		return
	}
	b.runHeads(p, x, dim, 0)
}

// runHeads is run for a per-head point: each row of x holds heads heads.
func (b *batch) runHeads(p hook.Point, x []float32, dim, heads int) {
	if !b.hooks {
		return
	}
	for i, s := range b.seqs {
		if !s.Hooks.Has(p) {
			continue
		}
		n := len(s.Tokens)
		s.Hooks.Run(&hook.Act{Point: p, Seq: i, Pos: s.Cache.n, Rows: n, Dim: dim, Heads: heads,
			Data: x[b.off[i]*dim : (b.off[i]+n)*dim]})
	}
}

// has reports whether any sequence has a hook at p.
func (b *batch) has(p hook.Point) bool {
	if !b.hooks {
		return false
	}
	for _, s := range b.seqs {
		if s.Hooks.Has(p) {
			return true
		}
	}
	return false
}

// Forward runs the new tokens of every sequence through the model, appends
// their keys and values to the caches, calls the hooks, and fills each Seq's
// Out with the logits it asked for.
func (m *Transformer) Forward(seqs []*Seq) error {
	if err := m.checkTokens(seqs); err != nil {
		return err
	}
	n := 0
	for _, s := range seqs {
		n += len(s.Tokens)
	}
	if n == 0 {
		return nil
	}
	d := m.Dim
	sc := getScratch(m, n)
	defer putScratch(sc)
	x := sc.x
	// The batch stays on the stack (so that seqs does not escape) and
	// borrows its slices from the scratch: a decode step allocates nothing.
	off, pos, hooks := sc.off[:0], sc.pos[:0], false
	for _, s := range seqs {
		off = append(off, len(pos))
		hooks = hooks || !s.Hooks.Empty()
		s.Cache.reserve(s.Cache.n + len(s.Tokens))
		for j := range s.Tokens {
			pos = append(pos, s.Cache.n+j)
		}
	}
	sc.off, sc.pos = off, pos
	b := &batch{seqs: seqs, off: off, pos: pos, rows: n, hooks: hooks}

	// Token embeddings (scaled for Gemma), plus learned positions (GPT-2).
	r := 0
	for _, s := range seqs {
		for _, t := range s.Tokens {
			m.W.Embed.Row(t, x[r*d:(r+1)*d])
			r++
		}
	}
	if m.EmbedScale != 0 {
		kernels.Scale(x[:n*d], float32(m.EmbedScale))
	}
	b.run(hook.EmbedPoint, x, d)
	if m.PosEmbed {
		if b.has(hook.PosEmbedPoint) {
			// The positions' rows, on their own for the hook, then added.
			pe := sc.xn[:n*d]
			for r, p := range b.pos {
				copy(pe[r*d:(r+1)*d], m.W.PosEmbed[p*d:(p+1)*d])
			}
			b.run(hook.PosEmbedPoint, pe, d)
			kernels.Add(x[:n*d], pe)
		} else {
			for r, p := range b.pos {
				kernels.Add(x[r*d:(r+1)*d], m.W.PosEmbed[p*d:(p+1)*d])
			}
		}
	}

	for l := range m.W.Blocks {
		m.block(l, b, sc)
	}

	return m.logits(b, sc)
}

// Decode steps of up to prefetchRows new tokens prefetch the layer's
// attention cache when it holds at most prefetchFloats keys (as many
// values), 512 KiB in all: half of a 1 MiB per-core L2 cache.
const (
	prefetchRows   = 8
	prefetchFloats = 64 << 10
)

// block runs transformer block l on the residual stream sc.x.
func (m *Transformer) block(l int, b *batch, sc *scratch) {
	w := &m.W.Blocks[l]
	n, d := b.rows, m.Dim
	qd, kvd := m.QDim(), m.KVDim()
	x, xn := sc.x, sc.xn
	b.run(hook.Block(l, hook.ResidPre), x, d)

	// Attention: norm, project to q, k, v, rotate, cache k and v, attend, project out.
	// For a decode step, first ask for this layer's cache to be loaded: the
	// loads overlap the projection instead of stalling the attention.
	if n <= prefetchRows {
		pre := 0
		for _, s := range b.seqs {
			pre += s.Cache.n * kvd
		}
		if pre <= prefetchFloats {
			for _, s := range b.seqs {
				kernels.Prefetch(s.Cache.k[l][:s.Cache.n*kvd])
				kernels.Prefetch(s.Cache.v[l][:s.Cache.n*kvd])
			}
		}
	}
	m.norm(xn, x, w.AttnNorm, n, d)
	b.run(hook.Block(l, hook.Ln1), xn, d)
	linears3(sc.q, sc.k, sc.v, xn, n, &w.Q, &w.K, &w.V)
	b.runHeads(hook.Block(l, hook.AttnQ), sc.q, qd, m.Heads)
	b.runHeads(hook.Block(l, hook.AttnK), sc.k, kvd, m.KVHeads)
	b.runHeads(hook.Block(l, hook.AttnV), sc.v, kvd, m.KVHeads)
	params, rope := m.attnParams(l)
	if m.QKNorm || rope != nil {
		qkLoop.Run(n, 8, qkArgs{m: m, w: w, q: sc.q, k: sc.k, pos: sc.pos, rope: rope}) // sc.pos is b.pos
	}
	for i, s := range b.seqs {
		c, t, p0 := s.Cache, len(s.Tokens), s.Cache.n
		copy(c.k[l][p0*kvd:(p0+t)*kvd], sc.k[b.off[i]*kvd:(b.off[i]+t)*kvd])
		copy(c.v[l][p0*kvd:(p0+t)*kvd], sc.v[b.off[i]*kvd:(b.off[i]+t)*kvd])
		if b.hooks && (s.Hooks.Has(hook.Block(l, hook.AttnScores)) || s.Hooks.Has(hook.Block(l, hook.AttnPattern))) {
			sc.pat = attendHooked(sc.pat, sc.att[b.off[i]*qd:], sc.q[b.off[i]*qd:], c.k[l], c.v[l], t, p0, params, s.Hooks, i, l)
			continue
		}
		kernels.Attention(sc.att[b.off[i]*qd:], sc.q[b.off[i]*qd:], c.k[l], c.v[l], t, p0, params)
	}
	b.runHeads(hook.Block(l, hook.AttnZ), sc.att, qd, m.Heads)
	linear(sc.o, sc.att, n, &w.O)
	if m.SandwichNorm {
		m.norm(sc.o, sc.o, w.PostAttnNorm, n, d)
	}
	b.run(hook.Block(l, hook.AttnOut), sc.o, d)
	kernels.Add(x[:n*d], sc.o[:n*d])
	b.run(hook.Block(l, hook.ResidMid), x, d)

	// MLP: norm, (gated) up projection, nonlinearity, down projection.
	m.norm(xn, x, w.MLPNorm, n, d)
	b.run(hook.Block(l, hook.Ln2), xn, d)
	f := m.FFN
	if m.Gated {
		linears2(sc.gate, sc.up, xn, n, &w.Gate, &w.Up)
		b.run(hook.Block(l, hook.MLPPre), sc.gate, f)
		gluLoop.Run(n, 4, gluArgs{gate: sc.gate, up: sc.up, f: f, gelu: m.Act == GELUTanh})
	} else {
		linear(sc.up, xn, n, &w.Up)
		b.run(hook.Block(l, hook.MLPPre), sc.up, f)
		actLoop.Run(n*f, 4096, actArgs{x: sc.up, gelu: m.Act == GELUTanh})
	}
	b.run(hook.Block(l, hook.MLPPost), sc.up, f)
	linear(sc.o, sc.up, n, &w.Down)
	if m.SandwichNorm {
		m.norm(sc.o, sc.o, w.PostMLPNorm, n, d)
	}
	b.run(hook.Block(l, hook.MLPOut), sc.o, d)
	kernels.Add(x[:n*d], sc.o[:n*d])
	b.run(hook.Block(l, hook.ResidPost), x, d)
}

// logits applies the final norm and the unembedding to the rows that need
// them, and commits the new positions to the caches.
func (m *Transformer) logits(b *batch, sc *scratch) error {
	d, v := m.Dim, m.Vocab
	// Rows that go through the final norm: all rows of sequences that want
	// every logit or have a hook on it, else only the last row.
	rows := sc.rowsNorm[:0]
	for i, s := range b.seqs {
		t := len(s.Tokens)
		switch {
		case s.Logits == AllLogits || s.Hooks.Has(hook.LnFinalPoint):
			for j := 0; j < t; j++ {
				rows = append(rows, b.off[i]+j)
			}
		case s.Logits == LastLogits:
			rows = append(rows, b.off[i]+t-1)
		}
	}
	for _, r := range rows {
		m.normRow(sc.xn[r*d:(r+1)*d], sc.x[r*d:(r+1)*d], m.W.FinalNorm)
	}
	sc.rowsNorm = rows
	b.run(hook.LnFinalPoint, sc.xn, d)

	// Gather the rows whose logits are wanted and unembed them together.
	want := sc.rowsOut[:0]
	for i, s := range b.seqs {
		t := len(s.Tokens)
		switch s.Logits {
		case AllLogits:
			for j := 0; j < t; j++ {
				want = append(want, b.off[i]+j)
			}
		case LastLogits:
			want = append(want, b.off[i]+t-1)
		}
	}
	sc.rowsOut = want
	if len(want) > 0 {
		sc.lin = grow(sc.lin, len(want)*d)
		sc.lout = grow(sc.lout, len(want)*v)
		in, out := sc.lin, sc.lout
		for i, r := range want {
			copy(in[i*d:(i+1)*d], sc.xn[r*d:(r+1)*d])
		}
		m.unembedNormed(out, in, len(want))
		k := 0
		for _, s := range b.seqs {
			var rows int
			switch s.Logits {
			case AllLogits:
				rows = len(s.Tokens)
			case LastLogits:
				rows = 1
			default:
				s.Out = s.Out[:0]
				continue
			}
			s.Out = append(s.Out[:0], out[k*v:(k+rows)*v]...)
			k += rows
		}
	} else {
		for _, s := range b.seqs {
			s.Out = s.Out[:0]
		}
	}
	for _, s := range b.seqs {
		s.Cache.n += len(s.Tokens)
	}
	return nil
}

// Unembed reads n = len(x)/Dim residual-stream rows x[n, Dim] as next-token
// logits [n, Vocab], exactly as the forward pass does after its last block:
// the final norm, the unembedding, then the final soft-cap (Gemma 2). It is
// the logit lens at any layer.
func (m *Transformer) Unembed(x []float32) ([]float32, error) {
	d := m.Dim
	if len(x) == 0 || len(x)%d != 0 {
		return nil, fmt.Errorf("arch: unembedding %d values: want a positive multiple of d_model %d", len(x), d)
	}
	n := len(x) / d
	xn := make([]float32, len(x))
	m.norm(xn, x, m.W.FinalNorm, n, d)
	out := make([]float32, n*m.Vocab)
	m.unembedNormed(out, xn, n)
	return out, nil
}

// unembedNormed computes out[n, Vocab] from final-normed rows xn[n, Dim]: the
// unembedding, then the final soft-cap when the family has one.
func (m *Transformer) unembedNormed(out, xn []float32, n int) {
	m.W.Output.MatMul(out, xn, n)
	if m.FinalSoftcap != 0 {
		kernels.Softcap(out, float32(m.FinalSoftcap))
	}
}

// linears3 computes three projections of the same input in one parallel
// loop (kernels.MatMulMulti), each with its bias.
func linears3(y0, y1, y2, x []float32, n int, l0, l1, l2 *Linear) {
	ys := [3][]float32{y0, y1, y2}
	kernels.MatMulMulti(ys[:], x, n, l0.W, l1.W, l2.W)
	addBias(y0, n, l0)
	addBias(y1, n, l1)
	addBias(y2, n, l2)
}

// linears2 is linears3 for two projections.
func linears2(y0, y1, x []float32, n int, l0, l1 *Linear) {
	ys := [2][]float32{y0, y1}
	kernels.MatMulMulti(ys[:], x, n, l0.W, l1.W)
	addBias(y0, n, l0)
	addBias(y1, n, l1)
}

// linear computes y[n, out] = x[n, in]·Wᵀ + bias.
func linear(y, x []float32, n int, l *Linear) {
	l.W.MatMul(y, x, n)
	addBias(y, n, l)
}

// addBias adds l's bias, if it has one, to each of the n rows of y.
func addBias(y []float32, n int, l *Linear) {
	if l.B != nil {
		o := l.W.Rows
		for r := 0; r < n; r++ {
			kernels.Add(y[r*o:(r+1)*o], l.B)
		}
	}
}

// norm normalises n rows of width d from src into dst (which may alias src).
func (m *Transformer) norm(dst, src []float32, w Norm, n, d int) {
	normLoop.Run(n, 16, normArgs{m: m, dst: dst, src: src, w: w, d: d})
}

// The parallel loops of the forward pass, as kernels.Loops so that running
// them allocates nothing.
type (
	normArgs struct {
		m        *Transformer
		dst, src []float32
		w        Norm
		d        int
	}
	qkArgs struct {
		m    *Transformer
		w    *Block
		q, k []float32
		pos  []int
		rope *kernels.Rope
	}
	gluArgs struct {
		gate, up []float32
		f        int
		gelu     bool
	}
	actArgs struct {
		x    []float32
		gelu bool
	}
)

var (
	normLoop = kernels.Loop[normArgs]{Body: func(a *normArgs, lo, hi int) {
		d := a.d
		for r := lo; r < hi; r++ {
			a.m.normRow(a.dst[r*d:(r+1)*d], a.src[r*d:(r+1)*d], a.w)
		}
	}}
	// qkLoop applies the per-head q and k norms (Config.QKNorm) and the
	// rotary embedding to rows [lo, hi).
	qkLoop = kernels.Loop[qkArgs]{Body: func(a *qkArgs, lo, hi int) {
		m, w := a.m, a.w
		qd, kvd, hd := m.QDim(), m.KVDim(), m.HeadDim
		for r := lo; r < hi; r++ {
			q, k := a.q[r*qd:(r+1)*qd], a.k[r*kvd:(r+1)*kvd]
			if m.QKNorm {
				for h := 0; h < m.Heads; h++ {
					m.normRow(q[h*hd:(h+1)*hd], q[h*hd:(h+1)*hd], w.QNorm)
				}
				for h := 0; h < m.KVHeads; h++ {
					m.normRow(k[h*hd:(h+1)*hd], k[h*hd:(h+1)*hd], w.KNorm)
				}
			}
			if a.rope != nil {
				a.rope.Apply(q, m.Heads, a.pos[r])
				a.rope.Apply(k, m.KVHeads, a.pos[r])
			}
		}
	}}
	gluLoop = kernels.Loop[gluArgs]{Body: func(a *gluArgs, lo, hi int) {
		f := a.f
		kernels.SwiGLU(a.up[lo*f:hi*f], a.gate[lo*f:hi*f], a.up[lo*f:hi*f], a.gelu)
	}}
	actLoop = kernels.Loop[actArgs]{Body: func(a *actArgs, lo, hi int) {
		act := kernels.SiLU
		if a.gelu {
			act = kernels.GELUTanh
		}
		for i := lo; i < hi; i++ {
			a.x[i] = act(a.x[i])
		}
	}}
)

func (m *Transformer) normRow(dst, src []float32, w Norm) {
	eps := float32(m.NormEps)
	switch m.Norm {
	case LayerNorm:
		kernels.LayerNorm(dst, src, w.W, w.B, eps)
	case RMSNormPlusOne:
		kernels.RMSNorm(dst, src, w.W, eps, true)
	default:
		kernels.RMSNorm(dst, src, w.W, eps, false)
	}
}
