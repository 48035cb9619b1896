//go:build !unix

package memory

func alloc(size int) (*Block, error) { return heapAlloc(size), nil }

func unmap([]byte) error { return nil }
