package kernels

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// The weight shapes [Rows, Cols] of the two reference models.
var benchShapes = []struct {
	model      string
	rows, cols int
}{
	{"stories15M", 288, 288}, {"stories15M", 768, 288}, {"stories15M", 288, 768}, {"stories15M", 32000, 288},
	{"smollm135M", 576, 576}, {"smollm135M", 192, 576}, {"smollm135M", 1536, 576}, {"smollm135M", 576, 1536}, {"smollm135M", 50257, 576},
}

// BenchmarkMatMul reports GFLOP/s (2·n·Rows·Cols per op) and, for the weight
// stream, GB/s of weight bytes read per op. The plain Go path is only run
// for n = 1 (it is the reference, not a contender).
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16} {
		for _, s := range benchShapes {
			m, _ := testMatrix(r, dt, s.rows, s.cols)
			for _, n := range []int{1, 4, 512} {
				x := randF32(r, n*s.cols)
				y := make([]float32, n*s.rows)
				for _, path := range Paths() {
					if path == "go" && n > 1 {
						continue
					}
					if path == "avx512bf16" && dt != tensor.BF16 {
						continue // same as avx512
					}
					b.Run(fmt.Sprintf("%s/%s/%dx%d/n%d/%s", dt, s.model, s.rows, s.cols, n, path), func(b *testing.B) {
						defer SetPath(path)()
						m.MatMul(y, x, n)
						b.ResetTimer()
						c0 := cpuSeconds()
						for i := 0; i < b.N; i++ {
							m.MatMul(y, x, n)
						}
						cpu := (cpuSeconds() - c0) / float64(b.N)
						sec := b.Elapsed().Seconds() / float64(b.N)
						flop := 2 * float64(n) * float64(s.rows) * float64(s.cols)
						b.ReportMetric(flop/sec/1e9, "GFLOP/s")
						b.ReportMetric(flop/cpu/1e9, "GFLOP/cpu-s")
						b.ReportMetric(float64(m.Bytes())/sec/1e9, "GB/s")
					})
				}
			}
		}
	}
}

// BenchmarkAttention: one layer of prefill (512 queries from position 0) and
// one decode step at position 511; GFLOP/s counts 4·hd flops per (query,
// visible key, head).
func BenchmarkAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		model          string
		heads, kvh, hd int
	}{{"stories15M", 6, 6, 48}, {"smollm135M", 9, 3, 64}} {
		for _, st := range []struct{ nq, pos0 int }{{512, 0}, {1, 511}} {
			p := AttnParams{Heads: c.heads, KVHeads: c.kvh, HeadDim: c.hd, Scale: 0.125}
			L := st.pos0 + st.nq
			q := randF32(r, st.nq*c.heads*c.hd)
			k := randF32(r, L*c.kvh*c.hd)
			v := randF32(r, L*c.kvh*c.hd)
			out := make([]float32, len(q))
			flops := 0.0
			for i := 0; i < st.nq; i++ {
				flops += 4 * float64(c.hd*c.heads) * float64(st.pos0+i+1)
			}
			for _, path := range Paths() {
				if path == "avx512bf16" {
					continue
				}
				b.Run(fmt.Sprintf("%s/nq%d/%s", c.model, st.nq, path), func(b *testing.B) {
					defer SetPath(path)()
					for i := 0; i < b.N; i++ {
						Attention(out, q, k, v, st.nq, st.pos0, p)
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// cpuSeconds is the process's user+system CPU time: GFLOP per CPU-second is
// what one dedicated core would do, robust to the other core being busy.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkArgmax: greedy sampling over a 32,000-token vocabulary.
func BenchmarkArgmax(b *testing.B) {
	x := randF32(rand.New(rand.NewPCG(5, 6)), 32000)
	for _, path := range Paths() {
		b.Run(path, func(b *testing.B) {
			defer SetPath(path)()
			for i := 0; i < b.N; i++ {
				Argmax(x)
			}
		})
	}
}
