package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	fakeOrg    = "acme"
	fakeName   = "tiny-llm"
	fakeCommit = "0123456789abcdef0123456789abcdef01234567"
	shard1     = "model-00001-of-00002.safetensors"
	shard2     = "model-00002-of-00002.safetensors"
)

// fakeHub is a loopback stand-in for the Hugging Face hub: the revision and
// tree APIs and resolve downloads (LFS files redirected to a "CDN").
type fakeHub struct {
	files    map[string][]byte
	lfs      map[string]bool
	pageSize int

	token       string          // required bearer token, if set
	gated       bool            // downloads answer 403 GatedRepo
	noTree      bool            // the tree API answers 404
	ignoreRange bool            // downloads ignore Range
	cutOnce     map[string]bool // first download of the file is cut halfway
	corrupt     map[string]bool // downloads serve altered content
	stallOnce   map[string]bool // first download of the file hangs halfway
	fail5xx     int             // this many downloads answer 503 first
	retries     []RetryEvent    // reported by PullOptions.OnRetry

	mu   sync.Mutex
	cut  map[string]bool
	log  []string // "resolve PATH RANGE", "tree", "revision"
	srv  *httptest.Server
	home string
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{
		files: map[string][]byte{
			".gitattributes":                    []byte("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"),
			"README.md":                         []byte("# tiny-llm\n"),
			"config.json":                       []byte(`{"model_type":"llama","hidden_size":8}`),
			"generation_config.json":            []byte(`{"do_sample":false}`),
			"tokenizer.json":                    []byte(`{"version":"1.0","model":{"type":"BPE"}}`),
			"tokenizer_config.json":             []byte(`{"bos_token":"<s>"}`),
			"model.safetensors.index.json":      []byte(`{"weight_map":{"a":"` + shard1 + `","b":"` + shard2 + `"}}`),
			shard1:                              randBytes(1, 300_001),
			shard2:                              randBytes(2, 200_003),
			"original/consolidated.safetensors": randBytes(3, 1000),
			"pytorch_model.bin":                 randBytes(4, 1000),
		},
		lfs:       map[string]bool{shard1: true, shard2: true, "original/consolidated.safetensors": true, "pytorch_model.bin": true},
		pageSize:  3,
		cutOnce:   map[string]bool{},
		corrupt:   map[string]bool{},
		stallOnce: map[string]bool{},
		cut:       map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/models/{org}/{name}/revision/{rev}", h.revision)
	mux.HandleFunc("GET /api/models/{org}/{name}/tree/{rev}", h.tree)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		// /{org}/{name}/resolve/{rev}/{path...}; a pattern would conflict with /api/.
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
		if len(parts) != 5 || parts[2] != "resolve" {
			http.NotFound(w, r)
			return
		}
		for i, k := range []string{"org", "name", "", "rev", "path"} {
			if k != "" {
				r.SetPathValue(k, parts[i])
			}
		}
		h.resolve(w, r)
	})
	mux.HandleFunc("GET /cdn/{path...}", func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, r.PathValue("path")) })
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	h.home = t.TempDir()
	return h
}

// wantFiles are the files DefaultInclude selects from the fake repository.
var wantFiles = []string{"config.json", "generation_config.json", "model.safetensors.index.json", shard1, shard2, "tokenizer.json", "tokenizer_config.json"}

func (h *fakeHub) record(s string) {
	h.mu.Lock()
	h.log = append(h.log, s)
	h.mu.Unlock()
}

func (h *fakeHub) requests(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, s := range h.log {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// access checks the repository, token and revision; it answers and returns
// false on failure.
func (h *fakeHub) access(w http.ResponseWriter, r *http.Request) bool {
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		code := ""
		if r.PathValue("name") != fakeName {
			code = "RepoNotFound" // the real hub answers so for unknown repositories
		}
		hubError(w, http.StatusUnauthorized, code, "Invalid credentials in Authorization header")
		return false
	}
	if r.PathValue("org") != fakeOrg || r.PathValue("name") != fakeName {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return false
	}
	if rev := r.PathValue("rev"); rev != "main" && rev != fakeCommit {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return false
	}
	return true
}

func (h *fakeHub) revision(w http.ResponseWriter, r *http.Request) {
	h.record("revision")
	if !h.access(w, r) {
		return
	}
	var sib []map[string]string
	for p := range h.files {
		sib = append(sib, map[string]string{"rfilename": p})
	}
	json.NewEncoder(w).Encode(map[string]any{"id": fakeOrg + "/" + fakeName, "sha": fakeCommit, "siblings": sib})
}

func gitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (h *fakeHub) tree(w http.ResponseWriter, r *http.Request) {
	h.record("tree")
	if !h.access(w, r) {
		return
	}
	if h.noTree {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("recursive") != "true" {
		hubError(w, http.StatusBadRequest, "", "test hub wants recursive=true")
		return
	}
	var entries []map[string]any
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range h.files {
			if !yield(p) {
				return
			}
		}
	})
	entries = append(entries, map[string]any{"type": "directory", "path": "original", "oid": strings.Repeat("d", 40), "size": 0})
	for _, p := range paths {
		b := h.files[p]
		e := map[string]any{"type": "file", "path": p, "size": len(b), "oid": gitBlobSHA1(b)}
		if h.lfs[p] {
			e["size"] = 134 // a pointer file's size
			e["lfs"] = map[string]any{"oid": sha256Hex(b), "size": len(b), "pointerSize": 134}
		}
		entries = append(entries, e)
	}
	cursor, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	end := min(cursor+h.pageSize, len(entries))
	if end < len(entries) {
		next := fmt.Sprintf("%s%s?recursive=true&cursor=%d", h.srv.URL, r.URL.Path, end)
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next))
	}
	json.NewEncoder(w).Encode(entries[cursor:end])
}

func (h *fakeHub) resolve(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	h.record("resolve " + p + " " + r.Header.Get("Range"))
	if !h.access(w, r) {
		return
	}
	if h.gated {
		hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+fakeOrg+"/"+fakeName+" is restricted.")
		return
	}
	h.mu.Lock()
	fail := h.fail5xx > 0
	if fail {
		h.fail5xx--
	}
	h.mu.Unlock()
	if fail {
		hubError(w, http.StatusServiceUnavailable, "", "try again")
		return
	}
	if _, ok := h.files[p]; !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	if h.lfs[p] {
		http.Redirect(w, r, "/cdn/"+p, http.StatusFound)
		return
	}
	h.serve(w, r, p)
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request, p string) {
	b := h.files[p]
	if h.corrupt[p] {
		b = bytes.Clone(b)
		b[len(b)/3] ^= 1
	}
	start := 0
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && !h.ignoreRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || n >= len(b) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(b)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, status = n, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(b)-1, len(b)))
	}
	body := b[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	h.mu.Lock()
	cut := h.cutOnce[p] && !h.cut[p]
	stall := h.stallOnce[p] && !h.cut[p]
	h.cut[p] = true
	h.mu.Unlock()
	w.WriteHeader(status)
	if stall {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // hang until the client gives up
		return
	}
	if cut {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-file
	}
	w.Write(body)
}

func (h *fakeHub) opts() PullOptions {
	return PullOptions{Home: h.home, Endpoint: h.srv.URL, Backoff: time.Millisecond}
}

func (h *fakeHub) repoDir() string {
	return filepath.Join(h.home, "models", "hf", fakeOrg, fakeName)
}

func (h *fakeHub) dir() string { return filepath.Join(h.repoDir(), fakeCommit) }

// installed lists the files under the revision directory.
func (h *fakeHub) installed(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(h.dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(h.dir(), p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// checkInstalled checks that exactly want is installed, with the right content.
func (h *fakeHub) checkInstalled(t *testing.T, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if got := h.installed(t); !slices.Equal(got, want) {
		t.Errorf("installed files = %v, want %v", got, want)
	}
	for _, p := range want {
		got, err := os.ReadFile(filepath.Join(h.dir(), filepath.FromSlash(p)))
		if err == nil && !bytes.Equal(got, h.files[p]) {
			t.Errorf("%s: content differs from the hub's (%d bytes, want %d)", p, len(got), len(h.files[p]))
		}
	}
}

func TestPull(t *testing.T) {
	tests := []struct {
		name     string
		repo     string
		setup    func(*fakeHub, *PullOptions)
		wantErr  string // "" means success
		wantIs   error
		want     []string // installed files; nil means wantFiles on success, none on failure
		check    func(*testing.T, *fakeHub)
		notReady bool // no ref expected after the pull
	}{
		{name: "full pull", repo: "acme/tiny-llm", check: func(t *testing.T, h *fakeHub) {
			if n := len(h.requests("tree")); n < 2 {
				t.Errorf("tree requests = %d, want several pages", n)
			}
			for _, p := range wantFiles {
				if got := h.requests("resolve " + p + " "); len(got) != 1 {
					t.Errorf("%s: requests %q, want one without Range", p, got)
				}
			}
		}},
		{name: "by commit", repo: "acme/tiny-llm@" + fakeCommit},
		{name: "resume within a pull", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) {
			h.cutOnce[shard1] = true
			h.cutOnce["config.json"] = true
		}, check: func(t *testing.T, h *fakeHub) {
			n := len(h.files[shard1])
			want := []string{"resolve " + shard1 + " ", fmt.Sprintf("resolve %s bytes=%d-", shard1, n/2)}
			if got := h.requests("resolve " + shard1); !slices.Equal(got, want) {
				t.Errorf("requests = %q, want %q", got, want)
			}
		}},
		{name: "server ignores Range", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) {
			h.ignoreRange = true
			h.cutOnce[shard2] = true
		}, check: func(t *testing.T, h *fakeHub) {
			if got := h.requests("resolve " + shard2); len(got) != 2 || !strings.Contains(got[1], "bytes=") {
				t.Errorf("requests = %q, want a cut request then a ranged one", got)
			}
		}},
		{name: "stalled download", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) {
			h.stallOnce[shard2] = true
			o.StallTimeout = 100 * time.Millisecond
		}, check: func(t *testing.T, h *fakeHub) {
			want := fmt.Sprintf("resolve %s bytes=%d-", shard2, len(h.files[shard2])/2)
			if got := h.requests("resolve " + shard2); len(got) != 2 || got[1] != want {
				t.Errorf("requests = %q, want the second to be %q", got, want)
			}
		}},
		{name: "5xx retried", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.fail5xx = 3 }},
		{name: "retries reported", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) {
			h.fail5xx = 2
			h.retries = nil
			var mu sync.Mutex
			o.OnRetry = func(e RetryEvent) { mu.Lock(); h.retries = append(h.retries, e); mu.Unlock() }
		}, check: func(t *testing.T, h *fakeHub) {
			if len(h.retries) < 2 {
				t.Fatalf("%d retries reported, want at least 2", len(h.retries))
			}
			for _, e := range h.retries {
				if e.Err == nil || !strings.Contains(e.Err.Error(), "503") || e.Attempt < 1 || e.Retries != 5 || e.Wait <= 0 {
					t.Errorf("retry event %+v: want the 503, an attempt number, 5 retries and a wait", e)
				}
			}
		}},
		{name: "5xx gives up", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.fail5xx = 100; o.Retries = 2 },
			wantErr: "503"},
		{name: "sha256 mismatch", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.corrupt[shard2] = true },
			wantErr: "sha256", wantIs: ErrChecksum, want: []string{"config.json", "generation_config.json", shard1}},
		{name: "git blob sha1 mismatch", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.corrupt["config.json"] = true },
			wantErr: "git blob sha1", wantIs: ErrChecksum, want: []string{}},
		{name: "mismatch after resume", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) {
			h.corrupt["config.json"] = true
			h.cutOnce["config.json"] = true
		}, wantErr: "git blob sha1", wantIs: ErrChecksum, want: []string{}, check: func(t *testing.T, h *fakeHub) {
			// cut, resumed (mismatch), then once more from scratch
			if got := h.requests("resolve config.json"); len(got) != 3 || got[2] != "resolve config.json " {
				t.Errorf("requests = %q, want 3, the last without Range", got)
			}
		}},
		{name: "401 without token", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.token = "secret" },
			wantErr: "set HF_TOKEN", wantIs: ErrAuth},
		{name: "401 with a bad token", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.token = "secret"; o.Token = "wrong" },
			wantErr: "HF_TOKEN was not accepted", wantIs: ErrAuth},
		{name: "token", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.token = "secret"; o.Token = "secret" }},
		{name: "403 gated", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.gated = true },
			wantErr: "gated model", wantIs: ErrAuth},
		{name: "404 repository", repo: "acme/nope", wantErr: "repository acme/nope", wantIs: ErrNotFound},
		{name: "401 repository not found", repo: "acme/nope", setup: func(h *fakeHub, o *PullOptions) { h.token = "secret" },
			wantErr: "set HF_TOKEN", wantIs: ErrNotFound},
		{name: "404 revision", repo: "acme/tiny-llm@v9", wantErr: `revision "v9"`, wantIs: ErrNotFound},
		{name: "include and exclude", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) {
			o.Include = []string{"*.json", "original/*"}
			o.Exclude = []string{"tokenizer*"}
		}, want: []string{"config.json", "generation_config.json", "model.safetensors.index.json", "original/consolidated.safetensors"}},
		{name: "no match", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { o.Include = []string{"*.gguf"} },
			wantErr: "no files match", wantIs: ErrNotFound},
		{name: "bad glob", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { o.Include = []string{"["} },
			wantErr: "bad glob"},
		{name: "no tree API", repo: "acme/tiny-llm", setup: func(h *fakeHub, o *PullOptions) { h.noTree = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t)
			opts := h.opts()
			if tc.setup != nil {
				tc.setup(h, &opts)
			}
			var last PullProgress
			opts.Progress = func(p PullProgress) { last = p }
			dir, err := Pull(context.Background(), tc.repo, opts)
			want := tc.want
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Pull error = %v, want one containing %q", err, tc.wantErr)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("Pull error = %v, want errors.Is %v", err, tc.wantIs)
				}
				if _, err := os.Stat(filepath.Join(h.repoDir(), "refs")); !os.IsNotExist(err) {
					t.Errorf("refs after a failed pull: stat error %v, want not-exist", err)
				}
				h.checkInstalled(t, want) // nil: nothing installed
				if tc.check != nil {
					tc.check(t, h)
				}
				return
			}
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			if want == nil {
				want = wantFiles
			}
			if dir != h.dir() {
				t.Errorf("dir = %q, want %q", dir, h.dir())
			}
			h.checkInstalled(t, want)
			if !h.noTree && (last.Done != last.Total || last.Total == 0) {
				t.Errorf("last progress = %+v, want Done == Total > 0", last)
			}
			if tc.check != nil {
				tc.check(t, h)
			}
			if got, err := Lookup(tc.repo, h.home); err != nil || got != dir {
				t.Errorf("Lookup(%q) = %q, %v, want %q", tc.repo, got, err, dir)
			}
			// A second pull downloads nothing.
			before := len(h.requests("resolve"))
			if dir2, err := Pull(context.Background(), tc.repo, opts); err != nil || dir2 != dir {
				t.Errorf("second Pull = %q, %v, want %q", dir2, err, dir)
			}
			if got := h.requests("resolve")[before:]; len(got) != 0 {
				t.Errorf("second Pull requested %q, want nothing", got)
			}
		})
	}
}

// TestPullResumeAcrossCalls interrupts a pull (no retries) and checks that
// the next one resumes the partial file with a Range request.
func TestPullResumeAcrossCalls(t *testing.T) {
	h := newFakeHub(t)
	h.cutOnce[shard1] = true
	opts := h.opts()
	opts.Retries = -1
	_, err := Pull(context.Background(), "acme/tiny-llm", opts)
	if err == nil {
		t.Fatal("Pull with a cut connection and no retries succeeded, want an error")
	}
	half := len(h.files[shard1]) / 2
	part := filepath.Join(h.dir(), shard1+".part")
	if fi, err := os.Stat(part); err != nil || fi.Size() != int64(half) {
		t.Fatalf("partial file: %v, %v; want %d bytes", fi, err, half)
	}
	if _, err := os.Stat(filepath.Join(h.dir(), shard1)); !os.IsNotExist(err) {
		t.Errorf("%s installed after an interrupted download (stat error %v)", shard1, err)
	}
	if _, err := Pull(context.Background(), "acme/tiny-llm", opts); err != nil {
		t.Fatalf("second Pull: %v", err)
	}
	want := fmt.Sprintf("resolve %s bytes=%d-", shard1, half)
	if got := h.requests("resolve " + shard1); len(got) != 2 || got[1] != want {
		t.Errorf("requests = %q, want the second to be %q", got, want)
	}
	h.checkInstalled(t, wantFiles)
}

// TestPullVerify checks that an installed file altered in place is trusted
// by default and replaced with Verify.
func TestPullVerify(t *testing.T) {
	h := newFakeHub(t)
	opts := h.opts()
	if _, err := Pull(context.Background(), "acme/tiny-llm", opts); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(h.dir(), shard2)
	bad := bytes.Clone(h.files[shard2])
	bad[0] ^= 1
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verify := range []bool{false, true} {
		opts.Verify = verify
		before := len(h.requests("resolve " + shard2))
		if _, err := Pull(context.Background(), "acme/tiny-llm", opts); err != nil {
			t.Fatal(err)
		}
		wantReq := 0
		if verify {
			wantReq = 1
		}
		if got := len(h.requests("resolve "+shard2)) - before; got != wantReq {
			t.Errorf("Verify=%v: %d downloads of %s, want %d", verify, got, shard2, wantReq)
		}
	}
	h.checkInstalled(t, wantFiles)
}

func TestPullEnv(t *testing.T) {
	h := newFakeHub(t)
	h.token = "secret"
	t.Setenv("HF_ENDPOINT", h.srv.URL+"/")
	t.Setenv("HF_TOKEN", "secret")
	t.Setenv("LIMBIC_HOME", h.home)
	dir, err := Pull(context.Background(), "acme/tiny-llm@main", PullOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if dir != h.dir() {
		t.Errorf("dir = %q, want %q", dir, h.dir())
	}
	ref, err := os.ReadFile(filepath.Join(h.repoDir(), "refs", "main"))
	if got := strings.TrimSpace(string(ref)); err != nil || got != fakeCommit {
		t.Errorf("refs/main = %q, %v, want %q", got, err, fakeCommit)
	}
	if got, err := Lookup("acme/tiny-llm", ""); err != nil || got != dir {
		t.Errorf("Lookup = %q, %v, want %q", got, err, dir)
	}
	if _, err := Lookup("acme/tiny-llm@v2", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of an unpulled revision: %v, want ErrNotFound", err)
	}
}

func TestParseRepo(t *testing.T) {
	tests := []struct {
		in      string
		want    Repo
		wantErr bool
	}{
		{in: "acme/tiny", want: Repo{"acme", "tiny", "main"}},
		{in: "Acme-1/tiny_llm.v2@v1.0", want: Repo{"Acme-1", "tiny_llm.v2", "v1.0"}},
		{in: "acme/tiny@refs/pr/1", want: Repo{"acme", "tiny", "refs/pr/1"}},
		{in: "tiny", wantErr: true},
		{in: "acme/", wantErr: true},
		{in: "/tiny", wantErr: true},
		{in: "a/b/c", wantErr: true},
		{in: "../tiny", wantErr: true},
		{in: "acme/..", wantErr: true},
		{in: "acme/tiny@", wantErr: true},
		{in: "acme/tiny@../x", wantErr: true},
		{in: "acme/tiny@a b", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseRepo(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseRepo(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
