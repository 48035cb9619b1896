package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkGemmTile measures one micro-kernel on L1/L2-resident operands.
func BenchmarkGemmTile(b *testing.B) {
	for _, name := range Paths() {
		p := findPath(name)
		if p.gemm == nil {
			continue
		}
		for _, k := range []int{288, 512} {
			b.Run(fmt.Sprintf("%s/k%d", name, k), func(b *testing.B) {
				x := make([]float32, p.mr*k)
				w := make([]float32, p.nr*k)
				c := make([]float32, p.mr*p.nr)
				for i := 0; i < b.N; i++ {
					p.gemm[p.mr](k, &x[0], k, &w[0], p.nr, &c[0], p.nr, 0)
				}
				b.ReportMetric(2*float64(p.mr*p.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
