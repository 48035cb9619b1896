package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
)

// tparam is one named tensor of a net: its weights and, when it trains,
// its gradient (nil when frozen).
type tparam[F Float] struct {
	name  string
	shape []int
	data  []F
	grad  []F
	decay bool
	raw   *rawMat // a frozen 16-bit matrix (data is nil), LoRA bases only
}

// linear is a projection y = x·Wᵀ + b with W [out, in], and optionally a
// LoRA adapter on it.
type linear[F Float] struct {
	name    string // Hugging Face module name ("model.layers.0.self_attn.q_proj")
	idx     int    // module index within the layer (moduleNames)
	out, in int
	w, b    *tparam[F]
	lora    *adapter[F]
}

// moduleNames are the projections of a layer, in order.
var moduleNames = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// layer is one transformer block's weights.
type layer[F Float] struct {
	attnNorm, mlpNorm *tparam[F]
	qNorm, kNorm      *tparam[F] // QKNorm only
	lin               [7]*linear[F]
	rope              *ropeTab[F] // nil: no rotary embeddings
	window            int
}

// net is a llama-family decoder in precision F, the core of Model.
type net[F Float] struct {
	cfg       arch.Config
	embed     *tparam[F]
	head      *tparam[F] // untied output; nil when tied
	norm      *tparam[F]
	layers    []layer[F]
	params    []*tparam[F] // every tensor, in Hugging Face order
	lora      []*tparam[F] // LoRA's A and B matrices, when adapters are on
	recompute bool
	dropout   float64 // LoRA dropout probability
	outT      []F     // output matrix transposed [Dim, Vocab]
	outTRaw   *kernels.Matrix
	rawT      []uint16
	keepRaw   bool // keep 16-bit matrices as stored (frozen LoRA base)
	bufs      map[string][]F
	acts      []*acts[F]
}

// acts are one layer's saved activations ([n, ·] over the batch's rows).
// The normed inputs and the MLP's hidden activation are not kept: the
// backward pass recomputes them (cheaply, and bit for bit) from rs1, rs2,
// gate and up.
type acts[F Float] struct {
	rs1       []F
	q0, k0    []F // q, k before the QK norm (QKNorm only)
	qrs, krs  []F
	q, k, v   []F // after norm and rotation
	att       []F
	xmid, rs2 []F
	gate, up  []F
	lu        [7][]F // LoRA: dropped input times Aᵀ [n, rank]
}

// grow returns b with length n, reallocating when needed (contents are
// not cleared).
func grow[F Float](b []F, n int) []F {
	if cap(b) < n {
		return make([]F, n)
	}
	return b[:n]
}

// buf returns the scratch buffer called name with n values (not cleared).
func (m *net[F]) buf(name string, n int) []F {
	b := grow(m.bufs[name], n)
	m.bufs[name] = b
	return b
}

// zbuf is buf, cleared.
func (m *net[F]) zbuf(name string, n int) []F {
	b := m.buf(name, n)
	clear(b)
	return b
}

// checkConfig rejects what the backward pass does not implement, naming it.
func checkConfig(c *arch.Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	switch c.Arch {
	case "llama", "mistral", "qwen2", "qwen3":
	default:
		return fmt.Errorf("train: the %s family is not supported: the backward pass covers the llama family (llama, mistral, qwen2, qwen3)", c.Arch)
	}
	switch {
	case c.Norm != arch.RMSNorm:
		return fmt.Errorf("train: %s: only RMSNorm is supported", c.Arch)
	case c.Act != arch.SiLU || !c.Gated:
		return fmt.Errorf("train: %s: only the gated SiLU MLP (SwiGLU) is supported", c.Arch)
	case c.PosEmbed || c.EmbedScale != 0 || c.AttnSoftcap != 0 || c.FinalSoftcap != 0 || c.SandwichNorm:
		return fmt.Errorf("train: %s: learned positions, embedding scale, soft-capping and sandwich norms are not supported", c.Arch)
	case c.OutBias || c.MLPBias:
		return fmt.Errorf("train: %s: biases on the output or MLP projections are not supported", c.Arch)
	}
	return nil
}

// newNet lays out a net's tensors (zero weights) for cfg. With frozen set
// no tensor gets a gradient; with lazy the weights are allocated by load
// (which may keep 16-bit matrices as they are instead).
func newNet[F Float](cfg arch.Config, frozen, lazy bool) (*net[F], error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	m := &net[F]{cfg: cfg, bufs: map[string][]F{}}
	add := func(name string, decay bool, shape ...int) *tparam[F] {
		n := 1
		for _, s := range shape {
			n *= s
		}
		p := &tparam[F]{name: name, shape: shape, decay: decay}
		if !lazy {
			p.data = make([]F, n)
		}
		if !frozen {
			p.grad = make([]F, n)
		}
		m.params = append(m.params, p)
		return p
	}
	d, qd, kvd := cfg.Dim, cfg.QDim(), cfg.KVDim()
	m.embed = add("model.embed_tokens.weight", true, cfg.Vocab, d)
	var ropeG, ropeL *ropeTab[F]
	if cfg.RopeTheta > 0 {
		ropeG = newRopeTab[F](cfg.InvFreq(false), cfg.RopeInterleaved)
		ropeL = newRopeTab[F](cfg.InvFreq(true), cfg.RopeInterleaved)
	}
	m.layers = make([]layer[F], cfg.Layers)
	for l := range m.layers {
		ly := &m.layers[l]
		p := fmt.Sprintf("model.layers.%d.", l)
		ly.rope = ropeG
		if cfg.Sliding != nil && cfg.Sliding[l] {
			ly.window, ly.rope = cfg.SlidingWindow, ropeL
		}
		if ropeG == nil {
			ly.rope = nil
		}
		lin := func(i int, mod string, out, in int, bias bool) {
			name := p + mod + moduleNames[i]
			li := &linear[F]{name: name, idx: i, out: out, in: in, w: add(name+".weight", true, out, in)}
			if bias {
				li.b = add(name+".bias", false, out)
			}
			ly.lin[i] = li
		}
		ly.attnNorm = add(p+"input_layernorm.weight", false, d)
		lin(0, "self_attn.", qd, d, cfg.QKVBias)
		lin(1, "self_attn.", kvd, d, cfg.QKVBias)
		lin(2, "self_attn.", kvd, d, cfg.QKVBias)
		lin(3, "self_attn.", d, qd, false)
		if cfg.QKNorm {
			ly.qNorm = add(p+"self_attn.q_norm.weight", false, cfg.HeadDim)
			ly.kNorm = add(p+"self_attn.k_norm.weight", false, cfg.HeadDim)
		}
		ly.mlpNorm = add(p+"post_attention_layernorm.weight", false, d)
		lin(4, "mlp.", cfg.FFN, d, false)
		lin(5, "mlp.", cfg.FFN, d, false)
		lin(6, "mlp.", d, cfg.FFN, false)
	}
	m.norm = add("model.norm.weight", false, d)
	if !cfg.Tied {
		m.head = add("lm_head.weight", true, cfg.Vocab, d)
	}
	return m, nil
}

// out returns the output (unembedding) matrix [Vocab, Dim].
func (m *net[F]) out() *tparam[F] {
	if m.head != nil {
		return m.head
	}
	return m.embed
}

// step is one forward (and backward) call over a batch.
type step[F Float] struct {
	n         int   // rows over all sequences
	tokens    []int // [n]
	targets   []int // [n]
	pos       []int // position of every row within its sequence
	off       []int // first row of each sequence, plus n
	maxT      int
	hooks     []*hook.Set // per sequence (float32 only); nil for none
	seed      uint64
	backward  bool
	dropout   bool // apply LoRA dropout
	scale     F    // gradient scale
	replaying bool // recomputing a block for the backward pass
}

// newStep checks b and flattens it.
func (m *net[F]) newStep(b Batch) (*step[F], error) {
	if len(b.Inputs) != len(b.Targets) {
		return nil, fmt.Errorf("train: batch has %d input rows and %d target rows", len(b.Inputs), len(b.Targets))
	}
	st := &step[F]{off: []int{0}}
	V := m.cfg.Vocab
	for i, in := range b.Inputs {
		tg := b.Targets[i]
		switch {
		case len(in) != len(tg):
			return nil, fmt.Errorf("train: batch row %d has %d inputs and %d targets", i, len(in), len(tg))
		case len(in) > m.cfg.MaxSeq:
			return nil, fmt.Errorf("train: batch row %d has %d tokens, more than the context length %d", i, len(in), m.cfg.MaxSeq)
		}
		for j, t := range in {
			if t < 0 || t >= V {
				return nil, fmt.Errorf("train: batch row %d: input token %d at index %d is outside the vocabulary [0, %d)", i, t, j, V)
			}
			if tg[j] < -1 || tg[j] >= V {
				return nil, fmt.Errorf("train: batch row %d: target %d at index %d is outside the vocabulary [0, %d) (or -1)", i, tg[j], j, V)
			}
			st.pos = append(st.pos, j)
		}
		st.tokens = append(st.tokens, in...)
		st.targets = append(st.targets, tg...)
		st.off = append(st.off, len(st.tokens))
		st.maxT = max(st.maxT, len(in))
	}
	st.n = len(st.tokens)
	return st, nil
}

// hookAt runs the hooks at p on x [n, dim] (float32 nets only). During a
// recompute (replaying) only the points inside a block run again.
func (m *net[F]) hookAt(st *step[F], p hook.Point, x []F, dim int) {
	if st.hooks == nil {
		return
	}
	xx, ok := any(x).([]float32)
	if !ok {
		return
	}
	for i, s := range st.hooks {
		if i >= len(st.off)-1 || !s.Has(p) {
			continue
		}
		r0, r1 := st.off[i], st.off[i+1]
		s.Run(&hook.Act{Point: p, Seq: i, Pos: 0, Rows: r1 - r0, Dim: dim, Data: xx[r0*dim : r1*dim]})
	}
}

// run does the forward pass over st, and the backward pass when
// st.backward. It returns the summed cross-entropy and the target count.
func (m *net[F]) run(st *step[F]) (float64, int) {
	c := &m.cfg
	n, d, L := st.n, c.Dim, c.Layers
	for i := range m.layers {
		if r := m.layers[i].rope; r != nil {
			r.reserve(st.maxT)
		}
	}
	if st.backward {
		m.prepareTransposes()
	}
	// Residual stream at every layer boundary: xs[l] is layer l's input.
	// Without a backward pass (or with recompute) fewer are kept.
	keep := st.backward
	xs := make([][]F, L+1)
	for l := range xs {
		switch {
		case keep:
			xs[l] = m.buf(fmt.Sprint("x", l), n*d)
		default:
			xs[l] = m.buf(fmt.Sprint("x", l%2), n*d)
		}
	}
	x0 := xs[0]
	for r, t := range st.tokens {
		m.embed.row(t, x0[r*d:(r+1)*d])
	}
	m.hookAt(st, hook.EmbedPoint, x0, d)
	for l := 0; l < L; l++ {
		a := m.layerActs(l, st)
		m.layerFwd(l, a, xs[l], xs[l+1], st)
	}
	xf := xs[L]
	rsF, xnF := m.buf("rsF", n), m.buf("xnF", n*d)
	rmsnormFwd(xnF, rsF, xf, m.norm.data, n, d, c.NormEps)
	m.hookAt(st, hook.LnFinalPoint, xnF, d)
	var dxn []F
	if st.backward {
		dxn = m.zbuf("dxnF", n*d)
	}
	sum, cnt := m.crossEntropy(st, xnF, dxn)
	if !st.backward {
		return sum, cnt
	}
	dres := m.zbuf("dres", n*d)
	rmsnormBwd(dres, m.norm.grad, dxn, xf, m.norm.data, rsF, n, d)
	for l := L - 1; l >= 0; l-- {
		a := m.layerActs(l, st)
		if m.recompute {
			st.replaying = true
			m.layerFwd(l, a, xs[l], nil, st)
			st.replaying = false
		}
		m.layerBwd(l, a, xs[l], dres, st)
	}
	if g := m.embed.grad; g != nil {
		for r, t := range st.tokens {
			addTo(g[t*d:(t+1)*d], dres[r*d:(r+1)*d])
		}
	}
	return sum, cnt
}

// layerActs returns the activation buffers for layer l: one set per layer
// when they are kept for the backward pass, else one shared set.
func (m *net[F]) layerActs(l int, st *step[F]) *acts[F] {
	if !st.backward || m.recompute {
		l = 0
	}
	for len(m.acts) <= l {
		m.acts = append(m.acts, &acts[F]{})
	}
	a := m.acts[l]
	c := &m.cfg
	n, d, qd, kvd, f := st.n, c.Dim, c.QDim(), c.KVDim(), c.FFN
	a.rs1 = grow(a.rs1, n)
	a.q, a.k, a.v = grow(a.q, n*qd), grow(a.k, n*kvd), grow(a.v, n*kvd)
	if c.QKNorm {
		a.q0, a.k0 = grow(a.q0, n*qd), grow(a.k0, n*kvd)
		a.qrs, a.krs = grow(a.qrs, n*c.Heads), grow(a.krs, n*c.KVHeads)
	}
	a.att = grow(a.att, n*qd)
	a.xmid, a.rs2 = grow(a.xmid, n*d), grow(a.rs2, n)
	a.gate, a.up = grow(a.gate, n*f), grow(a.up, n*f)
	return a
}

// attnShape returns layer l's attention over st's sequences.
func (m *net[F]) attnShape(l int, st *step[F]) *attnShape {
	c := &m.cfg
	s := c.QueryScale
	if s == 0 {
		s = 1 / math.Sqrt(float64(c.HeadDim))
	}
	return &attnShape{heads: c.Heads, kvHeads: c.KVHeads, hd: c.HeadDim, scale: s, window: m.layers[l].window, off: st.off}
}

// layerFwd runs block l on x into out, saving activations in a. When
// replaying (recompute for the backward pass) the residual hooks do not
// run again (x already holds their effect) and out is not computed.
func (m *net[F]) layerFwd(l int, a *acts[F], x, out []F, st *step[F]) {
	c := &m.cfg
	ly := &m.layers[l]
	n, d, hd := st.n, c.Dim, c.HeadDim
	if !st.replaying {
		m.hookAt(st, hook.Block(l, hook.ResidPre), x, d)
	}
	xn, o := m.buf("fxn", n*d), m.buf("fo", n*d)
	rmsnormFwd(xn, a.rs1, x, ly.attnNorm.data, n, d, c.NormEps)
	ly.lin[0].fwd(m, a.q, xn, a, st)
	ly.lin[1].fwd(m, a.k, xn, a, st)
	ly.lin[2].fwd(m, a.v, xn, a, st)
	if c.QKNorm {
		copy(a.q0, a.q)
		copy(a.k0, a.k)
		rmsnormFwd(a.q, a.qrs, a.q0, ly.qNorm.data, n*c.Heads, hd, c.NormEps)
		rmsnormFwd(a.k, a.krs, a.k0, ly.kNorm.data, n*c.KVHeads, hd, c.NormEps)
	}
	if ly.rope != nil {
		ropeRows(ly.rope, a.q, st.pos, c.Heads, hd, false)
		ropeRows(ly.rope, a.k, st.pos, c.KVHeads, hd, false)
	}
	attnFwd(a.att, a.q, a.k, a.v, m.attnShape(l, st))
	ly.lin[3].fwd(m, o, a.att, a, st)
	m.hookAt(st, hook.Block(l, hook.AttnOut), o, d)
	copy(a.xmid, x)
	addTo(a.xmid, o)
	m.hookAt(st, hook.Block(l, hook.ResidMid), a.xmid, d)
	rmsnormFwd(xn, a.rs2, a.xmid, ly.mlpNorm.data, n, d, c.NormEps)
	ly.lin[4].fwd(m, a.gate, xn, a, st)
	ly.lin[5].fwd(m, a.up, xn, a, st)
	if st.replaying {
		return
	}
	h := m.buf("fh", n*c.FFN)
	swigluFwd(h, a.gate, a.up)
	ly.lin[6].fwd(m, o, h, a, st)
	m.hookAt(st, hook.Block(l, hook.MLPOut), o, d)
	copy(out, a.xmid)
	addTo(out, o)
	m.hookAt(st, hook.Block(l, hook.ResidPost), out, d)
}

// layerBwd turns dres, the gradient w.r.t. block l's output, into the
// gradient w.r.t. its input x, adding the weights' gradients on the way.
// Hooks count as the identity (right for additive writes).
func (m *net[F]) layerBwd(l int, a *acts[F], x, dres []F, st *step[F]) {
	c := &m.cfg
	ly := &m.layers[l]
	n, d, hd, f := st.n, c.Dim, c.HeadDim, c.FFN
	qd, kvd := c.QDim(), c.KVDim()

	// MLP.
	h, xn := m.buf("bh", n*f), m.buf("bxn", n*d)
	swigluFwd(h, a.gate, a.up)
	dh := m.buf("dh", n*f)
	ly.lin[6].bwd(m, dh, dres, h, m.xT(h, n, f), false, a, st)
	dg, du := m.buf("dg", n*f), m.buf("du", n*f)
	swigluBwd(dg, du, dh, a.gate, a.up)
	dxn := m.buf("dxn", n*d)
	rmsnormApply(xn, a.rs2, a.xmid, ly.mlpNorm.data, n, d)
	xT := m.xT(xn, n, d)
	ly.lin[4].bwd(m, dxn, dg, xn, xT, false, a, st)
	ly.lin[5].bwd(m, dxn, du, xn, xT, true, a, st)
	rmsnormBwd(dres, gradOf(ly.mlpNorm), dxn, a.xmid, ly.mlpNorm.data, a.rs2, n, d)

	// Attention.
	datt := m.buf("datt", n*qd)
	ly.lin[3].bwd(m, datt, dres, a.att, m.xT(a.att, n, qd), false, a, st)
	dq, dk, dv := m.zbuf("dq", n*qd), m.zbuf("dk", n*kvd), m.zbuf("dv", n*kvd)
	attnBwd(dq, dk, dv, datt, a.q, a.k, a.v, m.attnShape(l, st))
	if ly.rope != nil {
		ropeRows(ly.rope, dq, st.pos, c.Heads, hd, true)
		ropeRows(ly.rope, dk, st.pos, c.KVHeads, hd, true)
	}
	if c.QKNorm {
		dq0, dk0 := m.zbuf("dq0", n*qd), m.zbuf("dk0", n*kvd)
		rmsnormBwd(dq0, gradOf(ly.qNorm), dq, a.q0, ly.qNorm.data, a.qrs, n*c.Heads, hd)
		rmsnormBwd(dk0, gradOf(ly.kNorm), dk, a.k0, ly.kNorm.data, a.krs, n*c.KVHeads, hd)
		dq, dk = dq0, dk0
	}
	rmsnormApply(xn, a.rs1, x, ly.attnNorm.data, n, d)
	xT = m.xT(xn, n, d)
	ly.lin[0].bwd(m, dxn, dq, xn, xT, false, a, st)
	ly.lin[1].bwd(m, dxn, dk, xn, xT, true, a, st)
	ly.lin[2].bwd(m, dxn, dv, xn, xT, true, a, st)
	rmsnormBwd(dres, gradOf(ly.attnNorm), dxn, x, ly.attnNorm.data, a.rs1, n, d)
}

// gradOf returns p's gradient, nil when p is frozen.
func gradOf[F Float](p *tparam[F]) []F {
	if p == nil {
		return nil
	}
	return p.grad
}

// prepareTransposes refreshes the transposed output matrix the backward
// pass multiplies by (a trainable one changes between steps; a frozen one
// is transposed once). The projections are transposed when used.
func (m *net[F]) prepareTransposes() {
	o := m.out()
	switch {
	case o.raw != nil:
		if m.outTRaw == nil {
			bits := make([]uint16, len(o.raw.bits))
			transposeCols(bits, o.raw.bits, o.raw.rows, o.raw.cols, 0, o.raw.cols)
			mt, err := matrixOf(o.raw.dtype, bits, o.raw.cols, o.raw.rows)
			if err != nil {
				panic(err) // checked when o.raw was made
			}
			m.outTRaw = mt
		}
	case o.grad != nil || m.outT == nil:
		m.outT = grow(m.outT, len(o.data))
		transpose(m.outT, o.data, m.cfg.Vocab, m.cfg.Dim)
	}
}

// fwd computes y = x·Wᵀ + b (+ the LoRA term) for the step's rows.
func (li *linear[F]) fwd(m *net[F], y, x []F, a *acts[F], st *step[F]) {
	n := st.n
	li.w.mul(y, x, n)
	if li.b != nil {
		for r := 0; r < n; r++ {
			addTo(y[r*li.out:(r+1)*li.out], li.b.data)
		}
	}
	if li.lora != nil {
		li.lora.fwd(m, li, y, x, a, st)
	}
}

// xT returns x [n, w] transposed (in a buffer reused by the next call),
// or nil when the base weights are frozen and no weight gradient needs it.
func (m *net[F]) xT(x []F, n, w int) []F {
	if m.layers[0].lin[0].w.grad == nil {
		return nil
	}
	t := m.buf("xT", n*w)
	transpose(t, x, n, w)
	return t
}

// bwd sets dx (or adds to it, with add) to dy·W and adds dyᵀ·x to W's
// gradient (xT is x transposed) and the column sums of dy to the bias's.
func (li *linear[F]) bwd(m *net[F], dx, dy, x, xT []F, add bool, a *acts[F], st *step[F]) {
	n := st.n
	// W is transposed here rather than kept transposed: a copy of every
	// weight would cost as much memory as the weights.
	if add {
		t := m.buf("dxtmp", n*li.in)
		m.mulT(t, dy, li.w, n)
		addTo(dx[:n*li.in], t)
	} else {
		m.mulT(dx, dy, li.w, n)
	}
	if g := li.w.grad; g != nil {
		dyT := m.buf("dyT", n*li.out)
		transpose(dyT, dy, n, li.out)
		t := m.buf("gtmp", li.out*li.in)
		matmul(t, dyT, xT, li.out, li.in, n)
		addTo(g, t)
	}
	if li.b != nil && li.b.grad != nil {
		colSums(li.b.grad, dy, n, li.out)
	}
	if li.lora != nil {
		li.lora.bwd(m, li, dx, dy, x, a, st)
	}
}

// ceChunk is how many logits (rows × vocab) the cross-entropy holds at
// once; ceVocabBlock is how many vocabulary rows of the output matrix's
// gradient it computes at a time.
const (
	ceChunk      = 16 << 20
	ceVocabBlock = 4096
)

// crossEntropy unembeds the final-normed rows xn that have targets, chunk
// by chunk, and returns the summed cross-entropy and the target count.
// With a backward pass it writes the scaled gradient w.r.t. xn into dxn
// (rows without a target stay zero) and adds the output matrix's gradient.
func (m *net[F]) crossEntropy(st *step[F], xn, dxn []F) (float64, int) {
	c := &m.cfg
	d, V := c.Dim, c.Vocab
	var rows []int
	for r, t := range st.targets {
		if t >= 0 {
			rows = append(rows, r)
		}
	}
	out := m.out()
	ch := min(max(ceChunk/V, 16), max(len(rows), 1))
	losses := make([]float64, len(rows))
	for c0 := 0; c0 < len(rows); c0 += ch {
		rs := rows[c0:min(c0+ch, len(rows))]
		k := len(rs)
		h := m.buf("ceh", k*d)
		for i, r := range rs {
			copy(h[i*d:(i+1)*d], xn[r*d:(r+1)*d])
		}
		lg := m.buf("celogits", k*V)
		out.mul(lg, h, k)
		kernels.ParallelFor(k, 4, func(lo, hi int) {
			tmp := make([]F, V)
			for i := lo; i < hi; i++ {
				row := lg[i*V : (i+1)*V]
				t := st.targets[rs[i]]
				losses[c0+i] = logSumExp(row, tmp) - float64(row[t])
				if dxn != nil {
					softmax(row)
					row[t]--
					for j := range row {
						row[j] *= st.scale
					}
				}
			}
		})
		if dxn == nil {
			continue
		}
		dh := m.buf("cedh", k*d)
		if m.outTRaw != nil {
			m.outTRaw.MatMul(any(dh).([]float32), any(lg).([]float32), k)
		} else {
			matmul(dh, lg, m.outT, k, d, V)
		}
		for i, r := range rs {
			copy(dxn[r*d:(r+1)*d], dh[i*d:(i+1)*d])
		}
		if out.grad != nil {
			// The output matrix's gradient lgᵀ·h, a block of the vocabulary
			// at a time (lg transposed block by block).
			hT := m.buf("cehT", d*k)
			transpose(hT, h, k, d)
			for v0 := 0; v0 < V; v0 += ceVocabBlock {
				vb := min(ceVocabBlock, V-v0)
				lgT := m.buf("celogitsT", vb*k)
				transposeCols(lgT, lg, k, V, v0, vb)
				g := m.buf("ceg", vb*d)
				matmul(g, lgT, hT, vb, d, k)
				addTo(out.grad[v0*d:(v0+vb)*d], g)
			}
		}
	}
	var sum float64
	for _, l := range losses {
		sum += l
	}
	return sum, len(rows)
}

// logSumExp returns log Σ exp(x) (the SIMD kernel for float32); tmp is
// scratch of len(x).
func logSumExp[F Float](x, tmp []F) float64 {
	if xx, ok := any(x).([]float32); ok {
		return kernels.LogSumExp(xx, any(tmp).([]float32))
	}
	mx := slices.Max(x)
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - mx))
	}
	return float64(mx) + math.Log(s)
}
