package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// TestPullThenUse pulls the synthetic llama checkpoint from a minimal fake
// hub on loopback, then runs it by its repository name, offline.
func TestPullThenUse(t *testing.T) {
	files := map[string][]byte{}
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(testref.Path("synthetic", "llama", f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	const commit = "0123456789abcdef0123456789abcdef01234567"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/models/test-org/tiny-llama/revision/{rev}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"id": "test-org/tiny-llama", "sha": commit,
			"siblings": []map[string]string{{"rfilename": "config.json"}, {"rfilename": "model.safetensors"}}})
	})
	mux.HandleFunc("GET /api/models/test-org/tiny-llama/tree/{rev}", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for p, b := range files {
			sum := sha256.Sum256(b)
			out = append(out, map[string]any{"type": "file", "path": p, "size": 134, "oid": strings.Repeat("0", 40),
				"lfs": map[string]any{"oid": hex.EncodeToString(sum[:]), "size": len(b), "pointerSize": 134}})
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /test-org/tiny-llama/resolve/{rev}/{file}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	hub := httptest.NewServer(mux)
	defer hub.Close()
	home := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HF_ENDPOINT="+hub.URL, "LIMBIC_HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("pull", "test-org/tiny-llama", "--json", "-q")
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	var got struct{ Dir string }
	json.Unmarshal([]byte(out), &got)
	if _, err := os.Stat(filepath.Join(got.Dir, "model.safetensors")); err != nil {
		t.Fatalf("pulled dir %q: %v", got.Dir, err)
	}
	hub.Close() // everything after this is offline
	c := filepath.Join(t.TempDir(), "c.safetensors")
	if out, err := run("--model", "test-org/tiny-llama", "capture", "--ids", "1,2,3", "--out", c, "-q"); err != nil {
		t.Fatalf("capture by repo name: %v\n%s", err, out)
	}
	out, err = run("--model", "test-org/other", "capture", "--ids", "1", "--out", c)
	if err == nil || !strings.Contains(out, "limbic pull test-org/other") {
		t.Errorf("unknown repo: %v %s", err, out)
	}
}
