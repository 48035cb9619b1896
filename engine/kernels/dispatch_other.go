//go:build !amd64 || purego

package kernels

func simdPaths() []*kpath { return nil }
