package kernels

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// A kpath is one implementation of the kernels: "go" (plain Go, every
// function nil) or a SIMD path registered by dispatch_amd64.go. Kernels read
// the current path once per call and fall back to plain Go for anything the
// path leaves nil.
type kpath struct {
	name  string
	lanes int // float32s per vector; 1 for plain Go

	// GEMM (prefill): broadcast-form micro-kernels, gemm[mr] for mr = 1..mr,
	// nr columns (gemmHalf: nr/2 columns).
	mr, nr   int
	gemm     []func(k int, x *float32, ldx int, b *float32, ldb int, c *float32, ldc int, acc int)
	gemmHalf []func(k int, x *float32, ldx int, b *float32, ldb int, c *float32, ldc int, acc int)
	gemmBF16 []func(k int, x *uint32, ldx int, b *uint32, ldb int, c *float32, ldc int, acc int) // VDPBF16PS; nil: widen
	pack32   func(dst *uint32, src *uint32, idx *int32, k int)
	packBF16 func(dst *float32, src *uint16, idx *int32, k2 int)
	packF16  func(dst *float32, src *uint16, idx *int32, k2 int)
	cvtBF16  func(dst *uint16, src *float32, n int)

	// Dot-form tiles of gemvMR×4, gemvF32[mr] for mr = 1..gemvMR (the
	// scores of a few attention queries against the cache).
	gemvMR  int
	gemvF32 []func(k int, x *float32, ldx int, w *float32, ldw int, y *float32, ldy int)
	// One x row against many weight rows, streamed one row after another (decode with a single sequence).
	gemvRowsF32  func(k int, x *float32, w *float32, ldw int, y *float32, rows int)
	gemvRowsBF16 func(k int, x *float32, w *uint16, ldw int, y *float32, rows int)
	gemvRowsF16  func(k int, x *float32, w *uint16, ldw int, y *float32, rows int)
	// The bf16 one with VDPBF16PS on x rounded to bf16 (k a multiple of
	// 32; nil: gemvRowsBF16, which widens the weight), and the same for
	// 2…gemvMaxN rows of x, indexed by that number.
	gemvRowsBF16Dot  func(k int, x *uint16, w *uint16, ldw int, y *float32, rows int)
	gemvRowsMBF16Dot []func(k int, x *uint16, ldx int, w *uint16, ldw int, y *float32, ldy int, rows int)
	// The same for 2…gemvMaxN rows of x (several sequences decoding
	// together), indexed by that number.
	gemvRowsMF32  []func(k int, x *float32, ldx int, w *float32, ldw int, y *float32, ldy int, rows int)
	gemvRowsMBF16 []func(k int, x *float32, ldx int, w *uint16, ldw int, y *float32, ldy int, rows int)
	gemvRowsMF16  []func(k int, x *float32, ldx int, w *uint16, ldw int, y *float32, ldy int, rows int)

	// Vector loops over n, a multiple of lanes; the Go wrappers do tails.
	dot      func(a, b *float32, n int) float32
	axpy     func(y *float32, a float32, x *float32, n int)
	add      func(y, x *float32, n int)
	scale    func(x *float32, a float32, n int)
	max      func(x *float32, n int) float32
	mulScale func(dst, x, w *float32, a, one float32, n int)
	prefetch func(p *float32, n int)
	expSum   func(dst, src *float32, n int, scale, m float32) float32
	gateMul  func(dst, gate, up *float32, n int, gelu int)
	scores   func(q, k *float32, ldk, nk, hd int, s *float32) // hd ≤ 8 vectors (AVX2: 4)

	// Quantised weights, int8 product (see quant.go): x quantised to 8
	// bits against Q8_0 blocks and whole Q4_K, Q5_K and
	// Q6_K super-blocks, scales and mins included (nil: qdotQ8_0Go,
	// qdotQ4_KGo, qdotQ5_KGo, qdotQ6_KGo).
	qdotQ8_0 func(w *byte, x *int8, xd *float32, nb int) float32
	qdotQ4_K func(w *byte, x *int8, xd, sd *float32, nsb int) float32
	qdotQ6_K func(w *byte, x *int8, xd, sd *float32, nsb int) float32
	qdotQ5_K func(w *byte, x *int8, xd, sd *float32, nsb int) float32
	// The same from Q2_K and Q3_K super-blocks (nil: qdotQ2_KGo,
	// qdotQ3_KGo).
	qdotQ2_K, qdotQ3_K func(w *byte, x *int8, xd, sd *float32, nsb int) float32
	// The same straight from Q4_0, Q5_0 and IQ4_NL blocks (nil:
	// qdotNibble32Go, qdotQ5_0Go).
	qdotQ4_0 func(w *byte, x *int8, xd *float32, nb int) float32
	qdotQ5_0 func(w *byte, x *int8, xd *float32, nb int) float32
	// The same straight from Q4_1 and Q5_1 blocks, their mins included
	// (nil: qdotQ4_1Go, qdotQ5_1Go).
	qdotQ4_1, qdotQ5_1 func(w *byte, x *int8, xd, sd *float32, nb int) float32
	qdotIQ4_NL         func(w *byte, x *int8, xd *float32, nb int, tab *int8) float32
	qdotIQ4_XS         func(w *byte, ws *float32, x *int8, xd *float32, nsb int, tab *int8) float32 // nil: qdotIQ4_XSGo
}

var (
	goPath = &kpath{name: "go", lanes: 1}
	// paths lists the paths this CPU can run, best first; "go" is last.
	paths []*kpath
	cur   atomic.Pointer[kpath]
)

// EnvPath is the environment variable read at init to force a kernel path
// (one of Paths(); unknown or unsupported names fall back to the best path
// with a warning on stderr).
const EnvPath = "LIMBIC_KERNELS"

// The default is the first of Paths(). On a CPU with AVX512_BF16 that is
// avx512bf16, which multiplies bf16 weights with activations rounded to
// bf16 (VDPBF16PS, summed in float32), as llama.cpp and torch's bf16
// matmuls do: about twice the prefill throughput of widening the weights,
// at a relative error of ≤ 2⁻⁸ per product. Other weight types run exactly
// as on avx512, which keeps bf16 products exact too (EnvPath=avx512).
func init() {
	paths = append(simdPaths(), goPath)
	best := paths[0]
	if env := os.Getenv(EnvPath); env != "" {
		if p := findPath(env); p != nil {
			best = p
		} else {
			fmt.Fprintf(os.Stderr, "limbic/kernels: %s=%q is not available here (have %s); using %s\n",
				EnvPath, env, strings.Join(Paths(), ", "), best.name)
		}
	}
	cur.Store(best)
}

func findPath(name string) *kpath {
	for _, p := range paths {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Paths returns the names of the kernel paths this CPU can run, best first;
// the last is always "go" (plain Go, the reference).
func Paths() []string {
	var s []string
	for _, p := range paths {
		s = append(s, p.name)
	}
	return s
}

// Path returns the name of the kernel path in use.
func Path() string { return cur.Load().name }

// SetPath switches every kernel to the named path (one of Paths()) and
// returns a function that restores the previous one. It panics on a name
// that this CPU cannot run. Kernels already running finish on the path they
// started with; it is meant for tests, benchmarks and start-up.
func SetPath(name string) (restore func()) {
	p := findPath(name)
	if p == nil {
		panic(fmt.Sprintf("kernels: SetPath(%q): not available here (have %s)", name, strings.Join(Paths(), ", ")))
	}
	old := cur.Swap(p)
	return func() { cur.Store(old) }
}
