package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// TestListOllama lists a model in an ollama store laid out as ollama does,
// opens it with --model ollama:NAME, and checks that a missing name lists
// what the store has.
func TestListOllama(t *testing.T) {
	gg, err := os.ReadFile(testref.Path("synthetic", "llama", "model-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	sum := sha256.Sum256(gg)
	h := hex.EncodeToString(sum[:])
	if err := os.MkdirAll(filepath.Join(store, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "blobs", "sha256-"+h), gg, 0o644); err != nil {
		t.Fatal(err)
	}
	man := fmt.Sprintf(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%d}]}`, h, len(gg))
	mp := filepath.Join(store, "manifests", "registry.ollama.ai", "me", "tiny", "v1")
	if err := os.MkdirAll(filepath.Dir(mp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mp, []byte(man), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OLLAMA_MODELS", store)

	var out struct {
		Models []struct{ Name, Source, Type string }
	}
	if err := json.Unmarshal([]byte(limbic(t, "list", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range out.Models {
		found = found || (m.Name == "ollama:me/tiny:v1" && m.Source == "ollama" && m.Type == "F32")
	}
	if !found {
		t.Errorf("list: %+v, want ollama:me/tiny:v1 (F32)", out.Models)
	}
	if !strings.Contains(limbic(t, "list"), "ollama:me/tiny:v1") {
		t.Error("the table does not show the ollama model")
	}
	// the synthetic model has no tokenizer: capture takes token ids
	limbic(t, "capture", "-m", "ollama:me/tiny:v1", "--ids", "1,2,3", "--out", filepath.Join(t.TempDir(), "c.safetensors"))

	cmd := exec.Command(bin, "tokenize", "-m", "ollama:nope", "hi")
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "me/tiny:v1") {
		t.Errorf("missing model: err %v, output %q; want a failure listing me/tiny:v1", err, b)
	}
}
