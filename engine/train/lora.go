package train

import (
	"fmt"
	"math"
	"slices"
)

// LoRAConfig asks for low-rank adapters (PEFT's LoRA) instead of full
// fine-tuning: every targeted projection W [out, in] gains
// y += (alpha/rank)·B·A·dropout(x), with A [rank, in] and B [out, rank]
// the only trainable tensors. The base weights are frozen.
type LoRAConfig struct {
	Rank    int
	Alpha   float64
	Dropout float64  // probability of zeroing an input of the LoRA path, in [0, 1)
	Targets []string // module names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj
	Seed    uint64   // initialises A (Kaiming-uniform-like); B starts at zero
}

// check validates c and returns the module indexes it targets.
func (c *LoRAConfig) check() ([]bool, error) {
	if c.Rank <= 0 {
		return nil, fmt.Errorf("train: lora rank %d must be positive", c.Rank)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return nil, fmt.Errorf("train: lora dropout %g must be in [0, 1)", c.Dropout)
	}
	if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
		return nil, fmt.Errorf("train: lora alpha %g must be positive", c.Alpha)
	}
	if len(c.Targets) == 0 {
		return nil, fmt.Errorf("train: lora has no target modules (want some of %v)", moduleNames)
	}
	on := make([]bool, len(moduleNames))
	for _, t := range c.Targets {
		i := slices.Index(moduleNames, t)
		if i < 0 {
			return nil, fmt.Errorf("train: lora target %q is not a module (want some of %v)", t, moduleNames)
		}
		on[i] = true
	}
	return on, nil
}

// adapter is one projection's LoRA pair.
type adapter[F Float] struct {
	a, b  *tparam[F] // A [rank, in], B [out, rank]
	rank  int
	scale F // alpha / rank
	layer int
	drop  float64
}

// peftName is PEFT's name for a LoRA matrix of the module called mod.
func peftName(mod, ab string) string {
	return "base_model.model." + mod + ".lora_" + ab + ".weight"
}

// addLoRA attaches adapters to the targeted projections of every layer and
// makes them the net's trainable tensors (the base is frozen: no gradients).
func (m *net[F]) addLoRA(c *LoRAConfig) error {
	on, err := c.check()
	if err != nil {
		return err
	}
	for _, p := range m.params {
		p.grad = nil
	}
	m.dropout = c.Dropout
	var ps []*tparam[F]
	for l := range m.layers {
		for i, li := range m.layers[l].lin {
			if !on[i] {
				continue
			}
			ad := &adapter[F]{rank: c.Rank, scale: F(c.Alpha / float64(c.Rank)), layer: l, drop: c.Dropout,
				a: &tparam[F]{name: peftName(li.name, "A"), shape: []int{c.Rank, li.in}, decay: true},
				b: &tparam[F]{name: peftName(li.name, "B"), shape: []int{li.out, c.Rank}, decay: true}}
			ad.a.data, ad.a.grad = make([]F, c.Rank*li.in), make([]F, c.Rank*li.in)
			ad.b.data, ad.b.grad = make([]F, li.out*c.Rank), make([]F, li.out*c.Rank)
			// PEFT initialises A with kaiming_uniform_(a=√5): U(−1/√in, 1/√in).
			bound := 1 / math.Sqrt(float64(li.in))
			for j := range ad.a.data {
				u := unit(c.Seed, uint64(l), uint64(i), uint64(j))
				ad.a.data[j] = F((2*u - 1) * bound)
			}
			li.lora = ad
			ps = append(ps, ad.a, ad.b)
		}
	}
	m.lora = ps
	return nil
}

// splitmix64 is a counter-based mixer: a pure function of its input.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit returns a uniform number in [0, 1) determined by seed and the three
// counters alone.
func unit(seed, a, b, c uint64) float64 {
	h := splitmix64(seed ^ splitmix64(a<<32^b) ^ splitmix64(c+0x632be59bd9b4e019))
	return float64(h>>11) / (1 << 53)
}

// dropped writes dropout(x) [n, in] into dst: each value is kept with
// probability 1−p (and divided by 1−p) by a draw that depends only on the
// step's seed, the layer, the module, the row and the column.
func (ad *adapter[F]) dropped(dst, x []F, idx int, st *step[F], in int) []F {
	if !st.dropout || ad.drop == 0 {
		return x
	}
	keep := F(1 / (1 - ad.drop))
	for r := 0; r < st.n; r++ {
		for j := 0; j < in; j++ {
			if unit(st.seed, uint64(ad.layer), uint64(idx), uint64(r*in+j)) >= ad.drop {
				dst[r*in+j] = x[r*in+j] * keep
			} else {
				dst[r*in+j] = 0
			}
		}
	}
	return dst
}

// fwd adds scale·dropout(x)·Aᵀ·Bᵀ to y and saves dropout(x)·Aᵀ in a.lu.
func (ad *adapter[F]) fwd(m *net[F], li *linear[F], y, x []F, a *acts[F], st *step[F]) {
	n, r := st.n, ad.rank
	xd := ad.dropped(m.buf("lora.xd", n*li.in), x, li.idx, st, li.in)
	a.lu[li.idx] = grow(a.lu[li.idx], n*r)
	u := a.lu[li.idx]
	matmul(u, xd, ad.a.data, n, r, li.in)
	t := m.buf("lora.t", n*li.out)
	matmul(t, u, ad.b.data, n, li.out, r)
	for i, v := range t {
		y[i] += ad.scale * v
	}
}

// bwd adds the LoRA path's gradient w.r.t. x to dx and accumulates the
// gradients of A and B.
func (ad *adapter[F]) bwd(m *net[F], li *linear[F], dx, dy, x []F, a *acts[F], st *step[F]) {
	n, r, in, out := st.n, ad.rank, li.in, li.out
	u := a.lu[li.idx]
	// gB += scale·dyᵀ·u
	dyT, uT := m.buf("lora.dyT", out*n), m.buf("lora.uT", r*n)
	transpose(dyT, dy, n, out)
	transpose(uT, u, n, r)
	gb := m.buf("lora.gb", out*r)
	matmul(gb, dyT, uT, out, r, n)
	for i, v := range gb {
		ad.b.grad[i] += ad.scale * v
	}
	// du = scale·dy·B
	bT := m.buf("lora.bT", r*out)
	transpose(bT, ad.b.data, out, r)
	du := m.buf("lora.du", n*r)
	matmul(du, dy, bT, n, r, out)
	for i := range du {
		du[i] *= ad.scale
	}
	// gA += duᵀ·dropout(x)
	xd := ad.dropped(m.buf("lora.xd", n*in), x, li.idx, st, in)
	duT, xdT := m.buf("lora.duT", r*n), m.buf("lora.xdT", in*n)
	transpose(duT, du, n, r)
	transpose(xdT, xd, n, in)
	ga := m.buf("lora.ga", r*in)
	matmul(ga, duT, xdT, r, in, n)
	for i, v := range ga {
		ad.a.grad[i] += v
	}
	// dx += dropout'(du·A): the same mask, the same 1/(1−p).
	aT := m.buf("lora.aT", in*r)
	transpose(aT, ad.a.data, r, in)
	t := m.buf("lora.t", n*in)
	matmul(t, du, aT, n, in, r)
	if st.dropout && ad.drop != 0 {
		mask := m.buf("lora.xd", n*in)
		for i := range mask {
			mask[i] = 1
		}
		ad.dropped(mask, mask, li.idx, st, in)
		for i := range t {
			t[i] *= mask[i]
		}
	}
	addTo(dx[:n*in], t)
}

// merged returns W + scale·B·A for li (a new slice), or W itself without
// an adapter.
func (li *linear[F]) merged() []F {
	ad := li.lora
	if ad == nil {
		return li.w.values()
	}
	w := slices.Clone(li.w.values())
	aT := make([]F, li.in*ad.rank)
	transpose(aT, ad.a.data, ad.rank, li.in)
	ba := make([]F, li.out*li.in)
	matmul(ba, ad.b.data, aT, li.out, li.in, ad.rank)
	for i, v := range ba {
		w[i] += ad.scale * v
	}
	return w
}
