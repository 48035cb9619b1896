package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseOllamaRef(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"llama3.2", "registry.ollama.ai/library/llama3.2:latest"},
		{"llama3.2:1b", "registry.ollama.ai/library/llama3.2:1b"},
		{"llama3.2:1b-instruct-q4_K_M", "registry.ollama.ai/library/llama3.2:1b-instruct-q4_K_M"},
		{"me/tiny:v1", "registry.ollama.ai/me/tiny:v1"},
		{"hf.co/bartowski/SmolLM2-135M-GGUF:Q4_K_M", "hf.co/bartowski/SmolLM2-135M-GGUF:Q4_K_M"},
		{"localhost:5000/me/tiny", "localhost:5000/me/tiny:latest"},
		{"localhost:5000/me/tiny:v2", "localhost:5000/me/tiny:v2"},
	} {
		r, err := ParseOllamaRef(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := r.String(); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "..", "../etc/passwd", "a/../b", "a/b/c/d", "x:../y", "x:", "a//b", "/abs", "a:b/c", "..:latest", "a/..", "h..o/ns/n"} {
		if r, err := ParseOllamaRef(bad); err == nil {
			t.Errorf("%q: accepted as %v, want an error", bad, r)
		}
	}
}

func TestOllamaRefShort(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"llama3.2", "llama3.2:latest"},
		{"me/tiny:v1", "me/tiny:v1"},
		{"hf.co/a/b:c", "hf.co/a/b:c"},
	} {
		r, err := ParseOllamaRef(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Short(); got != c.want {
			t.Errorf("%q: Short() = %q, want %q", c.in, got, c.want)
		}
	}
}

// ollamaStore builds a store in ollama's documented layout.
type ollamaStore struct {
	t   *testing.T
	dir string
}

func (s ollamaStore) blob(data []byte) ollamaLayer {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	p := filepath.Join(s.dir, "blobs", "sha256-"+hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
	return ollamaLayer{Digest: d, Size: int64(len(data))}
}

func (s ollamaStore) manifest(name string, layers map[string][]byte) {
	r, err := ParseOllamaRef(name)
	if err != nil {
		s.t.Fatal(err)
	}
	man := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config":        s.blob([]byte(`{"model_format":"gguf"}`)),
	}
	var ls []map[string]any
	keys := make([]string, 0, len(layers))
	for k := range layers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, mt := range keys {
		l := s.blob(layers[mt])
		ls = append(ls, map[string]any{"mediaType": mt, "digest": l.Digest, "size": l.Size})
	}
	man["layers"] = ls
	b, _ := json.Marshal(man)
	p := filepath.Join(s.dir, "manifests", r.Host, r.Namespace, r.Name, r.Tag)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// snapshot lists every file under dir with its size and mtime.
func snapshot(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		out = append(out, fmt.Sprint(p, fi.ModTime(), fi.Size()))
		return nil
	})
	return out
}

func TestOllamaStore(t *testing.T) {
	s := ollamaStore{t, t.TempDir()}
	weights := []byte("GGUF fake weights")
	s.manifest("tiny", map[string][]byte{
		ollamaMediaModel:                       weights,
		ollamaMediaTemplate:                    []byte("{{ .Prompt }}"),
		ollamaMediaSystem:                      []byte("Be kind."),
		ollamaMediaParams:                      []byte(`{"stop":["<end>"]}`),
		"application/vnd.ollama.image.license": []byte("MIT"),
	})
	s.manifest("me/other:v2", map[string][]byte{ollamaMediaModel: []byte("GGUF other")})
	s.manifest("lora:latest", map[string][]byte{ollamaMediaModel: weights, ollamaMediaAdapter: []byte("adapter")})
	t.Setenv("OLLAMA_MODELS", s.dir)
	home := t.TempDir()

	before := snapshot(t, s.dir)
	m, err := OpenOllama("tiny", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Template != "{{ .Prompt }}" || m.System != "Be kind." || string(m.Params) != `{"stop":["<end>"]}` {
		t.Errorf("layers: template %q system %q params %s", m.Template, m.System, m.Params)
	}
	if got, err := os.ReadFile(m.Blob); err != nil || string(got) != string(weights) {
		t.Errorf("blob %s: %q, %v", m.Blob, got, err)
	}
	if m.Size != int64(len(weights)) || !strings.HasPrefix(m.Digest, "sha256:") {
		t.Errorf("size %d digest %q", m.Size, m.Digest)
	}
	if err := VerifyOllama(m, home); err != nil {
		t.Fatalf("verify: %v", err)
	}
	stampFile := filepath.Join(home, "ollama", "verified", "sha256-"+strings.TrimPrefix(m.Digest, "sha256:")+".sha256")
	if _, err := os.Stat(stampFile); err != nil {
		t.Errorf("the check is not remembered: %v", err)
	}
	if err := VerifyOllama(m, home); err != nil {
		t.Fatalf("verify again: %v", err)
	}
	if after := snapshot(t, s.dir); !slices.Equal(before, after) {
		t.Errorf("ollama's store was written:\nbefore %v\nafter  %v", before, after)
	}

	// A damaged blob (same size) fails the check, stamp or not.
	if err := os.WriteFile(m.Blob, []byte("GGUF fake weightz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := VerifyOllama(m, home); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("damaged blob: err %v, want a digest mismatch", err)
	}

	list, err := ListOllama("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Ref.Short())
	}
	// the model with an adapter layer is not listed: limbic cannot open it
	if want := []string{"me/other:v2", "tiny:latest"}; !slices.Equal(names, want) {
		t.Errorf("list: %v, want %v", names, want)
	}

	_, err = OpenOllama("missing:7b", "")
	if !errors.Is(err, ErrOllamaNotFound) || !strings.Contains(err.Error(), "tiny:latest") || !strings.Contains(err.Error(), "me/other:v2") {
		t.Errorf("missing model: %v; want ErrOllamaNotFound listing what is there", err)
	}
	if _, err := OpenOllama("lora", ""); err == nil || !strings.Contains(err.Error(), "adapter") {
		t.Errorf("adapter layer: %v, want a refusal naming it", err)
	}
	if _, err := OpenOllama("../../etc/passwd", ""); err == nil {
		t.Error("path traversal accepted")
	}
}

func TestOllamaBadManifests(t *testing.T) {
	s := ollamaStore{t, t.TempDir()}
	write := func(name, body string) {
		p := filepath.Join(s.dir, "manifests", OllamaDefaultHost, OllamaDefaultNamespace, name, OllamaDefaultTag)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("notjson", "{")
	write("v1", `{"schemaVersion":1,"layers":[]}`)
	write("nomodel", `{"schemaVersion":2,"layers":[]}`)
	write("baddigest", `{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../x","size":1}]}`)
	write("noblob", `{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:`+strings.Repeat("ab", 32)+`","size":1}]}`)
	for name, want := range map[string]string{
		"notjson": "not a manifest", "v1": "schemaVersion", "nomodel": "no model layer",
		"baddigest": "bad layer digest", "noblob": "missing",
	} {
		_, err := OpenOllama(name, s.dir)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want it to say %q", name, err, want)
		}
	}
}
