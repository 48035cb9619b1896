package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/kernels"
)

// BenchOptions configure Bench, which measures like llama-bench: prefill of
// N random tokens in one batch (logits for the last only) and decode of N
// tokens one at a time, each from an empty cache.
type BenchOptions struct {
	Prefill []int // prompt lengths (default 64, 512)
	Decode  []int // generation lengths (default 128)
	Repeats int   // timed repetitions per test (default 5), after one warm-up
	Seed    uint64
	// Progress, if set, is called after each repetition.
	Progress func(test string, rep, reps int)
}

// Stat is the min, median and max of repeated measurements.
type Stat struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// BenchResult is one test's figures.
type BenchResult struct {
	Test         string  `json:"test"` // "pp512", "tg128"
	Tokens       int     `json:"tokens"`
	TokensPerSec Stat    `json:"tokens_per_s"`
	GFLOPS       float64 `json:"gflops"`       // at the median speed
	GBytesPerSec float64 `json:"gbytes_per_s"` // weight bytes read per second at the median speed (BytesPerToken per forward pass)
}

// BenchReport is what Bench measured.
type BenchReport struct {
	Model       string           `json:"model"`
	DType       string           `json:"dtype"`        // weight matrices' types, "+"-joined for a mix ("q4_k+q6_k")
	WeightTypes map[string]int64 `json:"weight_types"` // bytes of weight matrices by type
	// BytesPerToken is what one forward pass reads of the weights: every
	// matrix but the token embedding, of which it reads one row per token.
	BytesPerToken int64 `json:"bytes_per_token"`
	Threads       int   `json:"threads"`
	// Kernels is the kernel path (kernels.Path): on avx512bf16, bf16
	// weights multiply activations rounded to bf16; quantised weights say
	// whether they run the int8 or the exact product.
	Kernels      string        `json:"kernels"`
	QuantExact   bool          `json:"quant_exact"`
	WeightBytes  int64         `json:"weight_bytes"`
	KVCacheBytes int64         `json:"kv_cache_bytes"` // the largest cache used
	RSSBytes     int64         `json:"rss_bytes"`      // resident set after the runs (0 where unknown)
	Results      []BenchResult `json:"results"`
}

// Bench runs the tests on m.
func Bench(ctx context.Context, m *arch.Transformer, o BenchOptions) (*BenchReport, error) {
	if len(o.Prefill) == 0 && len(o.Decode) == 0 {
		o.Prefill, o.Decode = []int{64, 512}, []int{128}
	}
	if o.Repeats <= 0 {
		o.Repeats = 5
	}
	rng := rand.New(rand.NewPCG(o.Seed, 1))
	tokens := func(n int) []int {
		t := make([]int, n)
		for i := range t {
			t[i] = rng.IntN(m.Vocab)
		}
		return t
	}
	rep := &BenchReport{Threads: runtime.GOMAXPROCS(0), Kernels: kernels.Path(), QuantExact: kernels.QuantExact(), WeightBytes: int64(m.WeightBytes())}
	rep.WeightTypes, rep.BytesPerToken = weightTypes(m)
	var types []string
	for d := range rep.WeightTypes {
		types = append(types, d)
	}
	sort.Strings(types)
	rep.DType = strings.Join(types, "+")
	run := func(test string, n int, once func(c *arch.Cache) error) error {
		if n > m.MaxSeq {
			return fmt.Errorf("bench %s: %d tokens exceed the context length %d", test, n, m.MaxSeq)
		}
		var speeds []float64
		// One cache per test, emptied before each repetition (as llama-bench
		// clears its context's cache), sized for the test up front.
		c := m.NewCache()
		c.Reserve(n)
		for r := -1; r < o.Repeats; r++ { // r = -1 is the warm-up
			if err := ctx.Err(); err != nil {
				return err
			}
			c.Truncate(0)
			start := time.Now()
			if err := once(c); err != nil {
				return err
			}
			el := time.Since(start).Seconds()
			rep.KVCacheBytes = max(rep.KVCacheBytes, int64(c.Bytes()))
			if r >= 0 {
				speeds = append(speeds, float64(n)/el)
				if o.Progress != nil {
					o.Progress(test, r+1, o.Repeats)
				}
			}
		}
		sort.Float64s(speeds)
		st := Stat{Min: speeds[0], Median: speeds[len(speeds)/2], Max: speeds[len(speeds)-1]}
		if len(speeds)%2 == 0 {
			st.Median = (speeds[len(speeds)/2-1] + speeds[len(speeds)/2]) / 2
		}
		prefill := strings.HasPrefix(test, "pp")
		flops := forwardFLOPs(m, n, prefill)
		secs := float64(n) / st.Median
		res := BenchResult{Test: test, Tokens: n, TokensPerSec: st, GFLOPS: flops / secs / 1e9}
		passes := 1.0
		if !prefill {
			passes = float64(n)
		}
		res.GBytesPerSec = passes * float64(rep.BytesPerToken) / secs / 1e9
		rep.Results = append(rep.Results, res)
		return nil
	}
	for _, n := range o.Prefill {
		toks := tokens(n)
		err := run("pp"+strconv.Itoa(n), n, func(c *arch.Cache) error {
			return m.Forward([]*arch.Seq{{Cache: c, Tokens: toks, Logits: arch.LastLogits}})
		})
		if err != nil {
			return nil, err
		}
	}
	for _, n := range o.Decode {
		toks := tokens(n)
		err := run("tg"+strconv.Itoa(n), n, func(c *arch.Cache) error {
			s := &arch.Seq{Cache: c, Logits: arch.LastLogits}
			for i := 0; i < n; i++ {
				s.Tokens = toks[i : i+1]
				if err := m.Forward([]*arch.Seq{s}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	rep.RSSBytes = rss()
	return rep, nil
}

// forwardFLOPs counts multiply-adds ×2 for n tokens from an empty cache:
// the block matrix products, attention scores and mixing, and the
// unembedding (last token only for prefill, every token for decode).
func forwardFLOPs(m *arch.Transformer, n int, prefill bool) float64 {
	d, f := float64(m.Dim), float64(m.FFN)
	perTok := 2 * (d*float64(m.QDim()) + 2*d*float64(m.KVDim()) + float64(m.QDim())*d)
	if m.Gated {
		perTok += 2 * 3 * d * f
	} else {
		perTok += 2 * 2 * d * f
	}
	total := perTok * float64(n) * float64(m.Layers)
	// Attention: position p attends to p+1 keys: 2 products (q·k and p·v) of QDim each.
	keys := float64(n) * float64(n+1) / 2
	total += 2 * 2 * keys * float64(m.QDim()) * float64(m.Layers)
	unemb := 2 * d * float64(m.Vocab)
	if prefill {
		total += unemb
	} else {
		total += unemb * float64(n)
	}
	return total
}

// rss returns the resident set size from /proc (Linux), or 0.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// weightTypes returns the bytes of m's weight matrices by type (lower case)
// and the bytes one forward pass reads of them per token: every matrix but
// the embedding, and one embedding row.
func weightTypes(m *arch.Transformer) (map[string]int64, int64) {
	types := map[string]int64{}
	var perToken int64
	add := func(w *kernels.Matrix, read bool) {
		if w == nil {
			return
		}
		types[strings.ToLower(w.DType.String())] += int64(w.Bytes())
		if read {
			perToken += int64(w.Bytes())
		}
	}
	add(m.W.Embed, false)
	if m.W.Embed != nil && m.W.Embed.Rows > 0 {
		perToken += int64(m.W.Embed.Bytes() / m.W.Embed.Rows)
	}
	if m.W.Output != m.W.Embed {
		add(m.W.Output, true)
	} else if m.W.Output != nil {
		perToken += int64(m.W.Output.Bytes())
	}
	for i := range m.W.Blocks {
		b := &m.W.Blocks[i]
		for _, l := range []*arch.Linear{&b.Q, &b.K, &b.V, &b.O, &b.Gate, &b.Up, &b.Down} {
			add(l.W, true)
		}
	}
	return types, perToken
}
