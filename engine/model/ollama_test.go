package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/internal/testref"
)

// writeOllamaStore lays out an ollama store (manifests/HOST/NAMESPACE/NAME/TAG
// and blobs/sha256-HEX, as ollama writes them) holding one model.
func writeOllamaStore(t *testing.T, dir, name, tag string, layers map[string][]byte) {
	t.Helper()
	var ls []string
	keys := make([]string, 0, len(layers))
	for k := range layers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, mt := range keys {
		data := layers[mt]
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])
		if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256-"+h), data, 0o644); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, fmt.Sprintf(`{"mediaType":%q,"digest":"sha256:%s","size":%d}`, mt, h, len(data)))
	}
	man := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[` + strings.Join(ls, ",") + `]}`
	p := filepath.Join(dir, "manifests", hub.OllamaDefaultHost, hub.OllamaDefaultNamespace, name, tag)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(man), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadOllama loads a GGUF through ollama's store and checks it is the
// same model as the file loaded directly, with the store's chat template
// (the GGUF has none), and that a missing model lists what is there.
func TestLoadOllama(t *testing.T) {
	gg, err := os.ReadFile(testref.Path("synthetic", "llama", "model-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	tmpl := "{{ if .System }}<sys>{{ .System }}</sys>{{ end }}<user>{{ .Prompt }}</user><bot>{{ .Response }}</bot>"
	writeOllamaStore(t, store, "tiny", "q0", map[string][]byte{
		"application/vnd.ollama.image.model":    gg,
		"application/vnd.ollama.image.template": []byte(tmpl),
	})
	t.Setenv("OLLAMA_MODELS", store)
	t.Setenv("LIMBIC_HOME", t.TempDir())

	m := loadOrFail(t, "ollama:tiny:q0", LoadOptions{})
	direct := loadOrFail(t, testref.Path("synthetic", "llama", "model-f32.gguf"), LoadOptions{})
	if m.Name != "ollama:tiny:q0" || m.Format != FormatGGUF {
		t.Errorf("name %q format %q", m.Name, m.Format)
	}
	refs := readSynthRefs(t, "llama")
	a, b := logitsOf(t, m, refs), logitsOf(t, direct, refs)
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("logits through ollama's store differ from the file's (%d vs %d values)", len(a), len(b))
	}
	if m.Tok == nil {
		t.Fatal("no tokenizer")
	}
	if direct.Tok.ChatTemplate() != "" {
		t.Fatalf("the test GGUF has a chat template of its own; the store's would not be used")
	}
	if got := m.Tok.ChatTemplate(); got != tmpl {
		t.Errorf("chat template %q, want the store's %q", got, tmpl)
	}

	_, err = Load(context.Background(), "ollama:nope", LoadOptions{})
	if !errors.Is(err, hub.ErrOllamaNotFound) || !strings.Contains(err.Error(), "tiny:q0") {
		t.Errorf("missing model: %v; want a not-found error that lists tiny:q0", err)
	}

	// weights that are not GGUF get a clear error
	writeOllamaStore(t, store, "junk", "latest", map[string][]byte{"application/vnd.ollama.image.model": []byte("not a gguf at all")})
	if _, err := Load(context.Background(), "ollama:junk", LoadOptions{}); err == nil || !strings.Contains(err.Error(), "not a GGUF") {
		t.Errorf("non-GGUF blob: %v", err)
	}
}
