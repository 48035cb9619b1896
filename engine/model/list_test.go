package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

func TestAvailable(t *testing.T) {
	home := t.TempDir()
	// a pulled Hugging Face revision: refs/main names the commit directory
	repo := filepath.Join(home, "models", "hf", "org", "tiny")
	commit := filepath.Join(repo, "0123abcd")
	for _, d := range []string{commit, filepath.Join(repo, "refs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("0123abcd\n"), 0o644))
	must(os.WriteFile(filepath.Join(commit, "config.json"), []byte(`{"torch_dtype":"bfloat16"}`), 0o644))
	must(os.WriteFile(filepath.Join(commit, "model.safetensors"), make([]byte, 1000), 0o644))
	// an interrupted pull (a ref without its directory) is not listed
	must(os.MkdirAll(filepath.Join(home, "models", "hf", "org", "broken", "refs"), 0o755))
	must(os.WriteFile(filepath.Join(home, "models", "hf", "org", "broken", "refs", "main"), []byte("feed\n"), 0o644))

	gg, err := os.ReadFile(testref.Path("synthetic", "qwen2", "model-f32.gguf"))
	must(err)
	store := t.TempDir()
	writeOllamaStore(t, store, "tiny", "latest", map[string][]byte{"application/vnd.ollama.image.model": gg})

	es, err := Available(home, store)
	must(err)
	got := map[string]Entry{}
	for _, e := range es {
		got[e.Name] = e
	}
	if len(es) != 3 {
		t.Errorf("%d entries, want 3: %+v", len(es), es)
	}
	if e := got[Default]; e.Source != SourceEmbedded || e.Size != 0 || !strings.Contains(e.Note, "first use") {
		t.Errorf("embedded (not fetched in this home): %+v", e)
	}
	if e := got["org/tiny"]; e.Source != SourceHF || e.Type != "bf16" || e.Size != 1000 || e.Path != commit {
		t.Errorf("pulled repo: %+v", e)
	}
	e := got["ollama:tiny:latest"]
	if e.Source != SourceOllama || e.Size != int64(len(gg)) || !strings.HasPrefix(e.Type, "F32") {
		t.Errorf("ollama model: %+v", e)
	}
	if !strings.Contains(e.Path, filepath.Join(store, "blobs")) {
		t.Errorf("ollama path %s is not the blob", e.Path)
	}
}
