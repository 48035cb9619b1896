// Package mmap maps a file read-only into memory.
//
// On unix systems Open uses mmap(2) (PROT_READ, MAP_SHARED), so opening a
// multi-gigabyte checkpoint costs no copying and pages are loaded on demand.
// Elsewhere it falls back to reading the whole file into memory.
//
// Conventions: Region.Data starts on a page boundary when mapped and on an
// 8-byte boundary in the fallback, so offsets that are multiples of an element
// size give aligned element data. Data is read-only: writing to a mapped
// region faults. Data must not be used after Close.
package mmap
