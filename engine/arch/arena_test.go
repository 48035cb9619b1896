package arch

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// A resident model (weights copied into the arena) computes exactly what
// the same model run from its source does, for every family, with and
// without a dtype conversion; its matrices do not alias the source, except
// an untied input embedding, which stays there by design.
func TestResident(t *testing.T) {
	for name, c := range tinyConfigs(t) {
		for _, dt := range []tensor.DType{tensor.Invalid, tensor.BF16, tensor.F16} {
			t.Run(fmt.Sprintf("%s/%v", name, dt), func(t *testing.T) {
				ts, err := RandomTensors(c, 5, tensor.F32)
				if err != nil {
					t.Fatal(err)
				}
				src := MapSource{}
				for _, x := range ts {
					src[x.Name] = x
				}
				ref, err := New(c, src, Options{DType: dt})
				if err != nil {
					t.Fatal(err)
				}
				res, err := New(c, src, Options{DType: dt, Resident: true})
				if err != nil {
					t.Fatal(err)
				}
				if res.arena == nil || len(res.arena.regions) == 0 {
					t.Fatal("resident model has no arena memory")
				}
				inSource := func(p unsafe.Pointer) bool {
					for _, x := range ts {
						if len(x.Data) > 0 && uintptr(p) >= uintptr(unsafe.Pointer(&x.Data[0])) && uintptr(p) < uintptr(unsafe.Pointer(&x.Data[0]))+uintptr(len(x.Data)) {
							return true
						}
					}
					return false
				}
				inArena := func(p unsafe.Pointer) bool {
					for _, r := range res.arena.regions {
						if uintptr(p) >= uintptr(unsafe.Pointer(&r.Data[0])) && uintptr(p) < uintptr(unsafe.Pointer(&r.Data[0]))+uintptr(len(r.Data)) {
							return true
						}
					}
					return false
				}
				for l, b := range res.W.Blocks {
					for _, m := range []*Linear{&b.Q, &b.K, &b.V, &b.O, &b.Gate, &b.Up, &b.Down} {
						if m.W == nil {
							continue
						}
						if p := m.W.DataPointer(); !inArena(p) || inSource(p) {
							t.Errorf("block %d: a matrix is not in the arena (in source: %v)", l, inSource(p))
						}
					}
				}
				if p := res.W.Output.DataPointer(); !inArena(p) {
					t.Errorf("output matrix is not in the arena")
				}
				if p := res.W.Embed.DataPointer(); !c.Tied && dt == tensor.Invalid && !inSource(p) {
					t.Errorf("untied embedding was copied; want it left in the source")
				}
				toks := []int{1, 5, 9, 2, 33, 7}
				a := &Seq{Cache: ref.NewCache(), Tokens: toks, Logits: AllLogits}
				b := &Seq{Cache: res.NewCache(), Tokens: toks, Logits: AllLogits}
				if err := ref.Forward([]*Seq{a}); err != nil {
					t.Fatal(err)
				}
				if err := res.Forward([]*Seq{b}); err != nil {
					t.Fatal(err)
				}
				for i := range a.Out {
					if a.Out[i] != b.Out[i] {
						t.Fatalf("logit %d: resident %g, from source %g", i, b.Out[i], a.Out[i])
					}
				}
				if err := res.Close(); err != nil {
					t.Fatal(err)
				}
				if err := res.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				if err := ref.Close(); err != nil {
					t.Fatalf("Close of a model without an arena: %v", err)
				}
			})
		}
	}
}

func TestArenaAlloc(t *testing.T) {
	a := new(arena)
	defer a.close()
	var prev []byte
	for _, n := range []int{1, 63, 64, 65, 1000, arenaChunk + 5, 7} {
		b := a.alloc(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("alloc(%d): len %d cap %d", n, len(b), cap(b))
		}
		if p := uintptr(unsafe.Pointer(&b[0])); p%64 != 0 {
			t.Errorf("alloc(%d) at %#x: not 64-byte aligned", n, p)
		}
		for i := range b {
			if b[i] != 0 {
				t.Fatalf("alloc(%d): byte %d is %d, want zeroed memory", n, i, b[i])
			}
			b[i] = byte(n)
		}
		for i := range prev { // the previous block is untouched by this one
			if prev[i] != byte(len(prev)) {
				t.Fatalf("alloc(%d) overwrote the previous block", n)
			}
		}
		prev = b
	}
	// The oversized block got a region of its own; the small ones after it
	// still share the first.
	if len(a.regions) != 2 {
		t.Errorf("%d regions, want 2", len(a.regions))
	}
}
