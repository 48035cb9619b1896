package arch

import (
	"fmt"
	"math"

	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Transformer is a model ready to run: its config, weights and rotary tables.
// It is safe for concurrent use by forward calls with distinct caches.
type Transformer struct {
	Config
	W *Weights
	// Bound lists the checkpoint tensors the weights were read from, in
	// binding order.
	Bound []BoundTensor
	// ContextLength is the checkpoint's context length (MaxSeq before
	// Options.MaxSeq capped it).
	ContextLength int

	ropeGlobal, ropeLocal *kernels.Rope // nil when the model has no rotary embeddings
	arena                 *arena        // weight memory (Options.Resident), or nil
}

// Options adjust how a model is built.
type Options struct {
	// DType converts weight matrices at load (F32, BF16, F16, Q8_0);
	// Invalid keeps the checkpoint's dtype.
	DType tensor.DType
	// MaxSeq sets the context length (0: the config's). It may exceed the
	// trained context (rotary models extrapolate, with degrading quality);
	// models with learned positions cannot go past their table.
	MaxSeq int
	// Resident copies the weight matrices out of the Source into memory the
	// model owns (huge pages on Linux; see arena), converting them there
	// when DType asks. Decode is faster than from a mapped file, and the
	// caller may then drop the file's pages from its resident set. Close
	// releases the copy. An untied input embedding stays in the Source: it
	// is read one row per token.
	Resident bool
	// Release, when set with Resident, is told the source bytes of each
	// tensor once they have been copied or converted into the model's
	// memory (mmap.Region.EvictRange), so that a mapped checkpoint's pages
	// and their copy are not both resident at the peak of a load. The
	// bytes stay valid: they are read again if a later tensor needs them.
	Release func(data []byte)
}

// New binds a family's weights from src and prepares the model.
func New(cfg Config, src Source, opts Options) (*Transformer, error) {
	ctxLen := cfg.MaxSeq
	if opts.MaxSeq > 0 {
		if cfg.PosEmbed && opts.MaxSeq > cfg.MaxSeq {
			return nil, fmt.Errorf("context length %d exceeds the %d learned positions of this model", opts.MaxSeq, cfg.MaxSeq)
		}
		cfg.MaxSeq = opts.MaxSeq
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fam, err := Lookup(cfg.Arch)
	if err != nil {
		return nil, err
	}
	b := &binder{src: src, dt: opts.DType}
	if opts.Resident {
		b.arena = new(arena)
		b.release = opts.Release
	}
	w := fam.Bind(&cfg, b)
	if b.err != nil {
		if b.arena != nil {
			b.arena.close()
		}
		return nil, b.err
	}
	m := &Transformer{Config: cfg, W: w, Bound: b.bound, ContextLength: ctxLen, arena: b.arena}
	if cfg.RopeTheta > 0 {
		m.ropeGlobal = kernels.NewRope(cfg.HeadDim, cfg.InvFreq(false), cfg.RopeInterleaved, cfg.MaxSeq, 1)
		m.ropeLocal = m.ropeGlobal
		if cfg.RopeLocalTheta > 0 {
			m.ropeLocal = kernels.NewRope(cfg.HeadDim, cfg.InvFreq(true), cfg.RopeInterleaved, cfg.MaxSeq, 1)
		}
	}
	return m, nil
}

// Close releases the weight memory of a model built with Options.Resident
// (a no-op otherwise). The model must not be used afterwards. Close is safe
// to call more than once.
func (m *Transformer) Close() error {
	if m.arena == nil {
		return nil
	}
	err := m.arena.close()
	m.arena = nil
	return err
}

// WeightBytes returns the bytes held by weight matrices (a tied output counted once).
func (m *Transformer) WeightBytes() int {
	n := m.W.Embed.Bytes()
	if m.W.Output != m.W.Embed {
		n += m.W.Output.Bytes()
	}
	for i := range m.W.Blocks {
		b := &m.W.Blocks[i]
		for _, l := range []*Linear{&b.Q, &b.K, &b.V, &b.O, &b.Gate, &b.Up, &b.Down} {
			if l.W != nil {
				n += l.W.Bytes()
			}
		}
	}
	return n
}

// Cache is one sequence's key/value cache: for every layer, the keys and
// values of positions [0, Len()).
type Cache struct {
	n    int
	cap  int
	kv   int // KVDim
	max  int // MaxSeq
	k, v [][]float32
}

// NewCache returns an empty cache for this model. Memory grows as positions are added.
func (m *Transformer) NewCache() *Cache {
	return &Cache{kv: m.KVDim(), max: m.MaxSeq, k: make([][]float32, m.Layers), v: make([][]float32, m.Layers)}
}

// Len returns the number of cached positions.
func (c *Cache) Len() int { return c.n }

// Truncate drops positions from n on, so that the next tokens go at position n.
func (c *Cache) Truncate(n int) {
	if n < c.n && n >= 0 {
		c.n = n
	}
}

// Clone returns an independent copy of the cache's positions, with room for
// extra more: sequences that share a prompt prefix run it once and branch.
func (c *Cache) Clone(extra int) *Cache {
	d := &Cache{kv: c.kv, max: c.max, k: make([][]float32, len(c.k)), v: make([][]float32, len(c.v))}
	d.reserve(min(c.n+max(extra, 0), c.max))
	for l := range c.k {
		copy(d.k[l], c.k[l][:c.n*c.kv])
		copy(d.v[l], c.v[l][:c.n*c.kv])
	}
	d.n = c.n
	return d
}

// Bytes returns the memory held by the cache.
func (c *Cache) Bytes() int { return 2 * 4 * c.cap * c.kv * len(c.k) }

// Reserve makes room for n positions (at most the context length), so that
// filling the cache up to there does not reallocate it. Callers that know
// how long a sequence will get (a prompt plus a token budget) call it once;
// otherwise the cache doubles as it fills.
func (c *Cache) Reserve(n int) { c.reserve(min(n, c.max)) }

func (c *Cache) reserve(n int) {
	if n <= c.cap {
		return
	}
	nc := max(n, 2*c.cap, 16)
	nc = min(nc, c.max)
	for l := range c.k {
		k := make([]float32, nc*c.kv)
		v := make([]float32, nc*c.kv)
		copy(k, c.k[l][:c.n*c.kv])
		copy(v, c.v[l][:c.n*c.kv])
		c.k[l], c.v[l] = k, v
	}
	c.cap = nc
}

func (m *Transformer) attnParams(layer int) (kernels.AttnParams, *kernels.Rope) {
	scale := m.QueryScale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(m.HeadDim))
	}
	p := kernels.AttnParams{Heads: m.Heads, KVHeads: m.KVHeads, HeadDim: m.HeadDim,
		Scale: float32(scale), Softcap: float32(m.AttnSoftcap)}
	rope := m.ropeGlobal
	if m.Sliding != nil && m.Sliding[layer] {
		p.Window = m.SlidingWindow
		rope = m.ropeLocal
	}
	return p, rope
}

func (m *Transformer) checkTokens(seqs []*Seq) error {
	for i, s := range seqs {
		if s.Cache == nil {
			return fmt.Errorf("sequence %d: no cache", i)
		}
		if s.Cache.kv != m.KVDim() || len(s.Cache.k) != m.Layers {
			return fmt.Errorf("sequence %d: cache belongs to another model", i)
		}
		if n := s.Cache.n + len(s.Tokens); n > m.MaxSeq {
			return fmt.Errorf("sequence %d: %d tokens (%d cached + %d new) exceed the context length of %d", i, n, s.Cache.n, len(s.Tokens), m.MaxSeq)
		}
		for j, t := range s.Tokens {
			if t < 0 || t >= m.Vocab {
				return fmt.Errorf("sequence %d: token %d at index %d is outside the vocabulary [0, %d)", i, t, j, m.Vocab)
			}
		}
	}
	return nil
}
