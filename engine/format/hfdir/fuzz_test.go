package hfdir

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// FuzzOpen opens a directory whose config.json and
// model.safetensors.index.json are arbitrary bytes (no index file when the
// second input is empty), beside two small valid shards. Open must never
// panic; it must refuse a config.json that is not a JSON object and an index
// that names a shard outside the directory or a tensor a shard lacks; and a
// directory it accepts must keep config.json byte for byte, decode it as
// encoding/json does, and serve every tensor it lists.
func FuzzOpen(f *testing.F) {
	base := f.TempDir()
	ts := []*tensor.Tensor{
		tensor.FromF32("a.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		tensor.FromF32("b.weight", []int{4}, []float32{-1, 0, 1, 2}),
	}
	cfg := []byte(`{"model_type":"llama","hidden_size":64,"rope_scaling":{"rope_type":"llama3","factor":8.0},"torch_dtype":"float32"}`)
	if err := Write(base, cfg, ts, nil, MaxShardBytes(1)); err != nil {
		f.Fatal(err)
	}
	indexJSON, err := os.ReadFile(filepath.Join(base, IndexFile))
	if err != nil {
		f.Fatal(err)
	}
	shards := map[string][]byte{}
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".safetensors" {
			b, err := os.ReadFile(filepath.Join(base, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			shards[e.Name()] = b
		}
	}
	if len(shards) != 2 {
		f.Fatalf("%d shards written, want 2", len(shards))
	}
	f.Add(cfg, indexJSON)
	f.Add(cfg, []byte{})
	f.Add([]byte(`[1, 2]`), indexJSON)
	f.Add([]byte(`null`), []byte{})
	f.Add([]byte(`{"model_type": 7, "a": {"b": [1e400]}}`), []byte{})
	f.Add(cfg, []byte(`{"weight_map": {"a.weight": "../model-00001-of-00002.safetensors"}}`))
	f.Add(cfg, []byte(`{"weight_map": {"c.weight": "model-00001-of-00002.safetensors"}}`))
	f.Add(cfg, []byte(`{"weight_map": {}}`))

	// One directory per fuzzing process (its inputs run one at a time):
	// the shards stay, config.json and the index are rewritten per input.
	dir := filepath.Join(f.TempDir(), "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for name, b := range shards {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, config, idx []byte) {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), config, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, IndexFile)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(idx) > 0 {
			if err := os.WriteFile(filepath.Join(dir, IndexFile), idx, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		d, err := Open(dir)
		var obj map[string]any
		isObject := json.Unmarshal(config, &obj) == nil && obj != nil
		if err != nil {
			if d != nil {
				t.Fatalf("Open returned a Dir and the error %v", err)
			}
			if isObject && len(idx) == 0 {
				t.Fatalf("valid config %q and valid shards refused: %v", config, err)
			}
			return
		}
		defer d.Close()
		if !isObject {
			t.Fatalf("config.json %q is not a JSON object, but Open accepted it", config)
		}
		if !bytes.Equal(d.ConfigJSON, config) {
			t.Fatalf("ConfigJSON %q, want the file's bytes %q", d.ConfigJSON, config)
		}
		got, _ := json.Marshal(d.Config)
		want, _ := json.Marshal(obj)
		if !bytes.Equal(got, want) {
			t.Fatalf("Config %s, want %s", got, want)
		}
		names := d.Names()
		if !slices.IsSorted(names) || len(names) == 0 {
			t.Fatalf("Names() = %v, want a sorted, non-empty list", names)
		}
		var wm map[string]string
		if len(idx) > 0 {
			var ix index
			if err := json.Unmarshal(idx, &ix); err != nil {
				t.Fatalf("index %q does not decode (%v), but Open accepted it", idx, err)
			}
			wm = ix.WeightMap
			for name, shard := range wm {
				if !filepath.IsLocal(shard) {
					t.Fatalf("index names shard %q outside the directory, but Open accepted it", shard)
				}
				if !d.Has(name) {
					t.Fatalf("index lists %q, Open does not", name)
				}
			}
		}
		for _, name := range names {
			if wm != nil {
				if _, ok := wm[name]; !ok {
					t.Fatalf("tensor %q is not in the index", name)
				}
			}
			x, err := d.Tensor(name)
			if err != nil {
				t.Fatalf("listed tensor %q: %v", name, err)
			}
			i := slices.IndexFunc(ts, func(w *tensor.Tensor) bool { return w.Name == name })
			if i < 0 || !bytes.Equal(x.Data, ts[i].Data) || !slices.Equal(x.Shape, ts[i].Shape) {
				t.Fatalf("tensor %q is not the one written", name)
			}
		}
	})
}
