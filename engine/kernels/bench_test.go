package kernels

import (
	"fmt"
	"math/rand/v2"
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
			for _, n := range []int{1, 512} {
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
						for i := 0; i < b.N; i++ {
							m.MatMul(y, x, n)
						}
						sec := b.Elapsed().Seconds() / float64(b.N)
						b.ReportMetric(2*float64(n)*float64(s.rows)*float64(s.cols)/sec/1e9, "GFLOP/s")
						b.ReportMetric(float64(m.Bytes())/sec/1e9, "GB/s")
					})
				}
			}
		}
	}
}
