package safetensors

import (
	"errors"
	"fmt"
	"slices"

	"github.com/limbic-dev/limbic/engine/format/mmap"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// File is an open safetensors file.
type File struct {
	// Metadata is the header's __metadata__ object, nil when absent.
	Metadata map[string]string

	path   string
	header *Header
	data   []byte // the whole file
	region *mmap.Region
}

// Open maps the file at path and parses its header.
func Open(path string) (*File, error) {
	r, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	h, err := parseHeader(r.Data, int64(len(r.Data)))
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return &File{Metadata: h.Metadata, path: path, header: h, data: r.Data, region: r}, nil
}

// Parse reads a safetensors file held in memory. The tensors' data aliases b.
func Parse(b []byte) (*File, error) {
	h, err := ParseHeader(b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	return &File{Metadata: h.Metadata, header: h, data: b}, nil
}

// Path returns the path the file was opened from ("" for Parse).
func (f *File) Path() string { return f.path }

// Header returns the parsed header.
func (f *File) Header() *Header { return f.header }

// Names returns the tensor names in header order.
func (f *File) Names() []string {
	names := make([]string, len(f.header.Tensors))
	for i := range f.header.Tensors {
		names[i] = f.header.Tensors[i].Name
	}
	return names
}

// Has reports whether the file holds a tensor named name.
func (f *File) Has(name string) bool {
	_, ok := f.header.index[name]
	return ok
}

// Info returns the header entry of the tensor named name.
func (f *File) Info(name string) (TensorInfo, bool) {
	ti, ok := f.header.Lookup(name)
	if !ok {
		return TensorInfo{}, false
	}
	info := *ti
	info.Shape = slices.Clone(ti.Shape)
	return info, true
}

// Tensor returns the tensor named name. Its Data aliases the file's memory
// (read-only, valid until Close); its Shape is a fresh slice.
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	ti, ok := f.header.Lookup(name)
	if !ok {
		return nil, f.errorf("no tensor %q", name)
	}
	return f.tensor(ti)
}

func (f *File) tensor(ti *TensorInfo) (*tensor.Tensor, error) {
	if f.data == nil {
		return nil, f.errorf("tensor %q: file is closed", ti.Name)
	}
	if ti.DType == tensor.Invalid {
		return nil, f.errorf("tensor %q has dtype %s, which limbic cannot load (supported: %s)", ti.Name, ti.DTypeName, supported)
	}
	lo, hi := f.header.DataStart+ti.Begin, f.header.DataStart+ti.End
	return &tensor.Tensor{
		Name:  ti.Name,
		DType: ti.DType,
		Shape: append([]int{}, ti.Shape...),
		Data:  f.data[lo:hi:hi],
	}, nil
}

// Tensors returns every tensor in header order. It fails when a tensor has a
// dtype limbic cannot load.
func (f *File) Tensors() ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, 0, len(f.header.Tensors))
	for i := range f.header.Tensors {
		t, err := f.tensor(&f.header.Tensors[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Evict drops the file's pages from the process's resident set (see
// mmap.Region.Evict): tensors stay valid and read them again on access. A
// loader calls it after copying the weights it uses.
func (f *File) Evict() error { return f.region.Evict() }

// EvictRange drops the pages wholly inside b, a part of the file's data,
// from the resident set (mmap.Region.EvictRange).
func (f *File) EvictRange(b []byte) error { return f.region.EvictRange(b) }

// Close releases the file's memory. Tensors obtained from it must not be used
// afterwards. Close is safe to call more than once.
func (f *File) Close() error {
	f.data = nil
	if f.region == nil {
		return nil
	}
	err := f.region.Close()
	f.region = nil
	return err
}

func (f *File) errorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if f.path != "" {
		return errors.New("safetensors: " + f.path + ": " + msg)
	}
	return errors.New("safetensors: " + msg)
}
