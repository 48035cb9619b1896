//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:generate go run ./internal/asmgen

// simdPaths returns the SIMD paths this CPU supports, best first:
//
//	avx512bf16  AVX-512F/BW/VL + AVX512_BF16: avx512, plus bf16 GEMM with
//	            VDPBF16PS on activations rounded to bf16 (see MatMul)
//	avx512      AVX-512F/BW/VL (GEMM 12×32, GEMV 4×4 tiles); int8 dots of
//	            quantised weights with VPDPBUSD where AVX512_VNNI is present
//	avx2        AVX2 + FMA + F16C (GEMM 6×16, GEMV 2×4 tiles)
func simdPaths() []*kpath {
	var ps []*kpath
	x := cpu.X86
	if x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512DQ {
		p := &kpath{
			name: "avx512", lanes: 16, mr: 12, nr: 32,
			gemm:     []func(int, *float32, int, *float32, int, *float32, int, int){nil, gemmF32Avx512N32M1, gemmF32Avx512N32M2, gemmF32Avx512N32M3, gemmF32Avx512N32M4, gemmF32Avx512N32M5, gemmF32Avx512N32M6, gemmF32Avx512N32M7, gemmF32Avx512N32M8, gemmF32Avx512N32M9, gemmF32Avx512N32M10, gemmF32Avx512N32M11, gemmF32Avx512N32M12},
			gemmHalf: []func(int, *float32, int, *float32, int, *float32, int, int){nil, gemmF32Avx512N16M1, gemmF32Avx512N16M2, gemmF32Avx512N16M3, gemmF32Avx512N16M4, gemmF32Avx512N16M5, gemmF32Avx512N16M6, gemmF32Avx512N16M7, gemmF32Avx512N16M8, gemmF32Avx512N16M9, gemmF32Avx512N16M10, gemmF32Avx512N16M11, gemmF32Avx512N16M12},
			pack32:   pack32Avx512, packBF16: packBF16Avx512, packF16: packF16Avx512,
			gemvMR:      4,
			gemvF32:     []func(int, *float32, int, *float32, int, *float32, int){nil, gemvF32Avx512M1, gemvF32Avx512M2, gemvF32Avx512M3, gemvF32Avx512M4},
			gemvRowsF32: gemvRowsF32Avx512, gemvRowsBF16: gemvRowsBF16Avx512, gemvRowsF16: gemvRowsF16Avx512,
			gemvRowsMF32:  []func(int, *float32, int, *float32, int, *float32, int, int){nil, nil, gemvRowsF32Avx512M2, gemvRowsF32Avx512M3, gemvRowsF32Avx512M4, gemvRowsF32Avx512M5, gemvRowsF32Avx512M6},
			gemvRowsMBF16: []func(int, *float32, int, *uint16, int, *float32, int, int){nil, nil, gemvRowsBF16Avx512M2, gemvRowsBF16Avx512M3, gemvRowsBF16Avx512M4, gemvRowsBF16Avx512M5, gemvRowsBF16Avx512M6},
			gemvRowsMF16:  []func(int, *float32, int, *uint16, int, *float32, int, int){nil, nil, gemvRowsF16Avx512M2, gemvRowsF16Avx512M3, gemvRowsF16Avx512M4, gemvRowsF16Avx512M5, gemvRowsF16Avx512M6},
			dot:           dotAvx512, axpy: axpyAvx512, add: addAvx512, scale: scaleAvx512, max: maxAvx512,
			mulScale: mulScaleAvx512, expSum: expSumAvx512, gateMul: gateMulAvx512, scores: scoresAvx512,
			prefetch: prefetchT1, qdotQ8_0: qdotQ8_0Avx2, qdotQ4_K: qdotQ4_KAvx2, qdotQ6_K: qdotQ6_KAvx2, qdotQ2_K: qdotQ2_KAvx2, qdotQ3_K: qdotQ3_KAvx2, qdotQ5_K: qdotQ5_KAvx2, qdotIQ4_XS: qdotIQ4_XSAvx2, qdotQ4_0: qdotQ4_0Avx2, qdotQ5_0: qdotQ5_0Avx2, qdotQ4_1: qdotQ4_1Avx2, qdotQ5_1: qdotQ5_1Avx2, qdotIQ4_NL: qdotIQ4_NLAvx2,
		}
		if x.HasAVX512VNNI {
			p.qdotQ8_0, p.qdotQ4_K, p.qdotQ5_0 = qdotQ8_0Vnni, qdotQ4_KVnni, qdotQ5_0Vnni
			p.qdotQ4_1, p.qdotQ5_1 = qdotQ4_1Vnni, qdotQ5_1Vnni
			p.qdotQ4_0, p.qdotIQ4_NL, p.qdotQ5_K, p.qdotIQ4_XS = qdotQ4_0Vnni, qdotIQ4_NLVnni, qdotQ5_KVnni, qdotIQ4_XSVnni
		}
		if x.HasAVX512BF16 {
			b := *p
			b.name = "avx512bf16"
			b.gemmBF16 = []func(int, *uint32, int, *uint32, int, *float32, int, int){nil, gemmBF16Avx512N32M1, gemmBF16Avx512N32M2, gemmBF16Avx512N32M3, gemmBF16Avx512N32M4, gemmBF16Avx512N32M5, gemmBF16Avx512N32M6, gemmBF16Avx512N32M7, gemmBF16Avx512N32M8, gemmBF16Avx512N32M9, gemmBF16Avx512N32M10, gemmBF16Avx512N32M11, gemmBF16Avx512N32M12}
			b.cvtBF16 = cvtBF16Avx512
			b.gemvRowsBF16Dot = gemvRowsBF16DotAvx512
			b.gemvRowsMBF16Dot = []func(int, *uint16, int, *uint16, int, *float32, int, int){nil, nil, gemvRowsBF16DotAvx512M2, gemvRowsBF16DotAvx512M3, gemvRowsBF16DotAvx512M4, gemvRowsBF16DotAvx512M5, gemvRowsBF16DotAvx512M6}
			ps = append(ps, &b)
		}
		ps = append(ps, p)
	}
	if x.HasAVX2 && x.HasFMA && x.HasF16C {
		ps = append(ps, &kpath{
			name: "avx2", lanes: 8, mr: 6, nr: 16,
			gemm:     []func(int, *float32, int, *float32, int, *float32, int, int){nil, gemmF32Avx2N16M1, gemmF32Avx2N16M2, gemmF32Avx2N16M3, gemmF32Avx2N16M4, gemmF32Avx2N16M5, gemmF32Avx2N16M6},
			gemmHalf: []func(int, *float32, int, *float32, int, *float32, int, int){nil, gemmF32Avx2N8M1, gemmF32Avx2N8M2, gemmF32Avx2N8M3, gemmF32Avx2N8M4, gemmF32Avx2N8M5, gemmF32Avx2N8M6},
			pack32:   pack32Avx2, packBF16: packBF16Avx2,
			gemvMR:      2,
			gemvF32:     []func(int, *float32, int, *float32, int, *float32, int){nil, gemvF32Avx2M1, gemvF32Avx2M2},
			gemvRowsF32: gemvRowsF32Avx2, gemvRowsBF16: gemvRowsBF16Avx2, gemvRowsF16: gemvRowsF16Avx2,
			gemvRowsMF32:  []func(int, *float32, int, *float32, int, *float32, int, int){nil, nil, gemvRowsF32Avx2M2, gemvRowsF32Avx2M3, gemvRowsF32Avx2M4, gemvRowsF32Avx2M5, gemvRowsF32Avx2M6},
			gemvRowsMBF16: []func(int, *float32, int, *uint16, int, *float32, int, int){nil, nil, gemvRowsBF16Avx2M2, gemvRowsBF16Avx2M3, gemvRowsBF16Avx2M4, gemvRowsBF16Avx2M5, gemvRowsBF16Avx2M6},
			gemvRowsMF16:  []func(int, *float32, int, *uint16, int, *float32, int, int){nil, nil, gemvRowsF16Avx2M2, gemvRowsF16Avx2M3, gemvRowsF16Avx2M4, gemvRowsF16Avx2M5, gemvRowsF16Avx2M6},
			dot:           dotAvx2, axpy: axpyAvx2, add: addAvx2, scale: scaleAvx2, max: maxAvx2,
			mulScale: mulScaleAvx2, expSum: expSumAvx2, gateMul: gateMulAvx2, scores: scoresAvx2,
			prefetch: prefetchT1, qdotQ8_0: qdotQ8_0Avx2, qdotQ4_K: qdotQ4_KAvx2, qdotQ6_K: qdotQ6_KAvx2, qdotQ2_K: qdotQ2_KAvx2, qdotQ3_K: qdotQ3_KAvx2, qdotQ5_K: qdotQ5_KAvx2, qdotIQ4_XS: qdotIQ4_XSAvx2, qdotQ4_0: qdotQ4_0Avx2, qdotQ5_0: qdotQ5_0Avx2, qdotQ4_1: qdotQ4_1Avx2, qdotQ5_1: qdotQ5_1Avx2, qdotIQ4_NL: qdotIQ4_NLAvx2,
		})
	}
	return ps
}
