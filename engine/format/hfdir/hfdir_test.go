package hfdir

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/testref"
)

func TestOpenSynthetic(t *testing.T) {
	tests := []struct {
		arch, modelType, tensor string
		shape                   []int
	}{
		{"llama", "llama", "model.embed_tokens.weight", []int{256, 64}},
		{"qwen2", "qwen2", "model.layers.0.self_attn.q_proj.bias", []int{64}},
		{"gemma2", "gemma2", "model.layers.25.post_feedforward_layernorm.weight", []int{64}},
		{"gpt2", "gpt2", "transformer.h.0.attn.c_attn.weight", []int{64, 192}},
	}
	for _, tc := range tests {
		t.Run(tc.arch, func(t *testing.T) {
			dir := testref.Path("synthetic", tc.arch)
			d, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if got := d.Config["model_type"]; got != tc.modelType {
				t.Errorf("model_type = %v, want %q", got, tc.modelType)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			if !bytes.Equal(d.ConfigJSON, raw) {
				t.Errorf("ConfigJSON differs from config.json")
			}
			// Only model.safetensors, not the reference-*.safetensors beside it.
			if got := d.WeightFiles(); len(got) != 1 || filepath.Base(got[0]) != WeightFile {
				t.Errorf("WeightFiles() = %v, want only %s", got, WeightFile)
			}
			st, err := safetensors.Open(filepath.Join(dir, WeightFile))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			want := st.Names()
			slices.Sort(want)
			if got := d.Names(); !slices.Equal(got, want) {
				t.Errorf("Names() has %d names, want the %d of model.safetensors, sorted", len(got), len(want))
			}
			if !d.Has(tc.tensor) || d.Has("nope") {
				t.Errorf("Has(%q) = %v, Has(nope) = %v", tc.tensor, d.Has(tc.tensor), d.Has("nope"))
			}
			x, err := d.Tensor(tc.tensor)
			if err != nil {
				t.Fatal(err)
			}
			if x.DType != tensor.BF16 || !slices.Equal(x.Shape, tc.shape) {
				t.Errorf("%s: %v %v, want BF16 %v", tc.tensor, x.DType, x.Shape, tc.shape)
			}
			if _, err := d.Tensor("nope"); err == nil || !strings.Contains(err.Error(), `no tensor "nope"`) {
				t.Errorf("Tensor(nope): err = %v", err)
			}
			if p, ok := d.File("config.json"); !ok || p != filepath.Join(dir, "config.json") {
				t.Errorf("File(config.json) = %q, %v", p, ok)
			}
			for _, name := range []string{"tokenizer.json", "generation_config.json", "../llama/config.json", ""} {
				if p, ok := d.File(name); ok {
					t.Errorf("File(%q) = %q, want not found", name, p)
				}
			}
		})
	}
}

// model returns the synthetic llama's config and tensors (copied, so they
// outlive the file).
func model(t *testing.T) ([]byte, []*tensor.Tensor) {
	t.Helper()
	d, err := Open(testref.Path("synthetic", "llama"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var ts []*tensor.Tensor
	for _, name := range d.Names() {
		x, err := d.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		x.Data = slices.Clone(x.Data)
		ts = append(ts, x)
	}
	return slices.Clone(d.ConfigJSON), ts
}

// checkModel opens dir and compares it with config and tensors.
func checkModel(t *testing.T, dir string, config []byte, want []*tensor.Tensor) *Dir {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if !bytes.Equal(d.ConfigJSON, config) {
		t.Errorf("config.json differs")
	}
	if got := d.Names(); len(got) != len(want) {
		t.Errorf("%d tensors, want %d", len(got), len(want))
	}
	for _, w := range want {
		g, err := d.Tensor(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: got %v %v (%d bytes), want %v %v (%d bytes)", w.Name, g.DType, g.Shape, len(g.Data), w.DType, w.Shape, len(w.Data))
		}
	}
	return d
}

func TestWriteSingle(t *testing.T) {
	config, ts := model(t)
	dir := filepath.Join(t.TempDir(), "out")
	tok := []byte(`{"model":{"type":"BPE"}}`)
	if err := Write(dir, config, ts, map[string][]byte{"tokenizer.json": tok}); err != nil {
		t.Fatal(err)
	}
	d := checkModel(t, dir, config, ts)
	if got := d.WeightFiles(); len(got) != 1 || filepath.Base(got[0]) != WeightFile {
		t.Errorf("WeightFiles() = %v, want only %s", got, WeightFile)
	}
	p, ok := d.File("tokenizer.json")
	if !ok {
		t.Fatal("no tokenizer.json")
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, tok) {
		t.Errorf("tokenizer.json = %q, want %q", b, tok)
	}
	st, err := safetensors.Open(filepath.Join(dir, WeightFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Metadata["format"] != "pt" {
		t.Errorf("metadata = %v, want format pt", st.Metadata)
	}
	assertEntries(t, filepath.Dir(dir), "out")
	assertEntries(t, dir, "config.json", "model.safetensors", "tokenizer.json")
}

func TestWriteSharded(t *testing.T) {
	config, ts := model(t)
	var total int64
	for _, x := range ts {
		total += int64(len(x.Data))
	}
	dir := filepath.Join(t.TempDir(), "sharded")
	if err := Write(dir, config, ts, nil, MaxShardBytes(50_000)); err != nil {
		t.Fatal(err)
	}
	d := checkModel(t, dir, config, ts)
	if n := len(d.WeightFiles()); n < 3 {
		t.Errorf("%d shards, want several", n)
	}
	for _, p := range d.WeightFiles() {
		st, err := safetensors.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var size int64
		for _, name := range st.Names() {
			info, _ := st.Info(name)
			size += info.Size()
		}
		if size > 50_000 && len(st.Names()) > 1 {
			t.Errorf("%s holds %d bytes in %d tensors, over the 50000 limit", filepath.Base(p), size, len(st.Names()))
		}
		st.Close()
	}
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Metadata.TotalSize != total || len(idx.WeightMap) != len(ts) {
		t.Errorf("index: total_size %d, %d entries; want %d, %d", idx.Metadata.TotalSize, len(idx.WeightMap), total, len(ts))
	}
	if got := idx.WeightMap[ts[0].Name]; !strings.HasPrefix(got, "model-00001-of-") {
		t.Errorf("first tensor in shard %q, want model-00001-of-...", got)
	}

	// A limit that holds everything gives a single model.safetensors.
	one := filepath.Join(t.TempDir(), "one")
	if err := Write(one, config, ts, nil, MaxShardBytes(total)); err != nil {
		t.Fatal(err)
	}
	assertEntries(t, one, "config.json", "model.safetensors")
}

func TestWriteOverwrite(t *testing.T) {
	config, ts := model(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "m")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// An empty directory is replaced without asking.
	if err := Write(dir, config, ts[:2], nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "stale.txt"), []byte("x"), 0o644)
	err := Write(dir, config, ts, nil)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Write over a non-empty dir: err = %v, want a refusal", err)
	}
	checkModel(t, dir, config, ts[:2]) // untouched
	if err := Write(dir, config, ts, nil, Overwrite()); err != nil {
		t.Fatal(err)
	}
	checkModel(t, dir, config, ts)
	if _, err := os.Stat(filepath.Join(dir, "stale.txt")); err == nil {
		t.Errorf("stale.txt survived the overwrite")
	}
	assertEntries(t, parent, "m")
}

func TestWriteErrors(t *testing.T) {
	config, ts := model(t)
	tests := []struct {
		name    string
		config  []byte
		tensors []*tensor.Tensor
		extra   map[string][]byte
		want    string
	}{
		{"bad config", []byte(`{"a":`), ts, nil, "config JSON"},
		{"config not object", []byte(`[1]`), ts, nil, "config JSON"},
		{"duplicate tensor", config, []*tensor.Tensor{ts[0], ts[0]}, nil, "given twice"},
		{"q8_0", config, []*tensor.Tensor{{Name: "q", DType: tensor.Q8_0, Shape: []int{32}, Data: make([]byte, 34)}}, nil, "no safetensors equivalent"},
		{"extra path", config, ts, map[string][]byte{"../x": nil}, "plain file name"},
		{"extra subdir", config, ts, map[string][]byte{"a/b": nil}, "plain file name"},
		{"extra clash", config, ts, map[string][]byte{"config.json": nil}, "clash"},
		{"extra shard clash", config, ts, map[string][]byte{"model-00001-of-00002.safetensors": nil}, "clash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			err := Write(filepath.Join(parent, "m"), tc.config, tc.tensors, tc.extra)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			assertEntries(t, parent)
		})
	}
	// A file in the way.
	parent := t.TempDir()
	p := filepath.Join(parent, "file")
	os.WriteFile(p, nil, 0o644)
	if err := Write(p, config, ts, nil, Overwrite()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Write onto a file: err = %v", err)
	}
	// A missing parent.
	if err := Write(filepath.Join(parent, "no", "m"), config, ts, nil); err == nil {
		t.Errorf("Write under a missing parent: got nil error")
	}
	assertEntries(t, parent, "file")
}

func TestOpenBroken(t *testing.T) {
	config, ts := model(t)
	sharded := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "m")
		if err := Write(dir, config, ts, nil, MaxShardBytes(50_000)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"missing dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }, "no such file"},
		{"not a dir", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, nil, 0o644)
			return p
		}, "is not a directory"},
		{"missing config", func(t *testing.T) string {
			dir := sharded(t)
			os.Remove(filepath.Join(dir, ConfigFile))
			return dir
		}, "no config.json"},
		{"bad config", func(t *testing.T) string {
			dir := sharded(t)
			os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"hidden_size": 64,}`), 0o644)
			return dir
		}, "config.json: invalid character"},
		{"config not object", func(t *testing.T) string {
			dir := sharded(t)
			os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`null`), 0o644)
			return dir
		}, "want a JSON object"},
		{"no weights", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, ConfigFile), config, 0o644)
			return dir
		}, "no weights"},
		{"missing shard", func(t *testing.T) string {
			dir := sharded(t)
			os.Remove(filepath.Join(dir, "model-00002-of-00005.safetensors"))
			return dir
		}, `shard "model-00002-of-00005.safetensors", which should hold tensor "model.embed_tokens.weight", is missing`},
		{"tensor not in shard", func(t *testing.T) string {
			dir := sharded(t)
			editIndex(t, dir, func(m map[string]string) { m["extra.weight"] = "model-00001-of-00005.safetensors" })
			return dir
		}, `tensor "extra.weight", listed in model.safetensors.index.json, is not in shard "model-00001-of-00005.safetensors"`},
		{"shard outside dir", func(t *testing.T) string {
			dir := sharded(t)
			editIndex(t, dir, func(m map[string]string) { m["x"] = "../elsewhere.safetensors" })
			return dir
		}, "is not a file inside the directory"},
		{"bad index", func(t *testing.T) string {
			dir := sharded(t)
			os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"weight_map": [`), 0o644)
			return dir
		}, IndexFile},
		{"empty index", func(t *testing.T) string {
			dir := sharded(t)
			os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"metadata": {}}`), 0o644)
			return dir
		}, "empty or missing weight_map"},
		{"corrupt shard", func(t *testing.T) string {
			dir := sharded(t)
			os.WriteFile(filepath.Join(dir, "model-00003-of-00005.safetensors"), []byte("garbage!"), 0o644)
			return dir
		}, "model-00003-of-00005.safetensors: header length"},
		{"duplicate without index", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, ConfigFile), config, 0o644)
			safetensors.Write(filepath.Join(dir, "a.safetensors"), ts[:2], nil)
			safetensors.Write(filepath.Join(dir, "b.safetensors"), ts[1:3], nil)
			return dir
		}, "is in both a.safetensors and b.safetensors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			d, err := Open(dir)
			if err == nil {
				d.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), "hfdir: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want one starting \"hfdir: \" containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenUnindexedFiles(t *testing.T) {
	config, ts := model(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigFile), config, 0o644)
	half := len(ts) / 2
	if err := safetensors.Write(filepath.Join(dir, "part-a.safetensors"), ts[:half], nil); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "part-b.safetensors"), ts[half:], nil); err != nil {
		t.Fatal(err)
	}
	d := checkModel(t, dir, config, ts)
	if n := len(d.WeightFiles()); n != 2 {
		t.Errorf("%d weight files, want 2", n)
	}
}

func editIndex(t *testing.T, dir string, edit func(map[string]string)) {
	t.Helper()
	p := filepath.Join(dir, IndexFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	edit(idx.WeightMap)
	b, _ = json.Marshal(idx)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertEntries checks that dir holds exactly names (sorted).
func assertEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
