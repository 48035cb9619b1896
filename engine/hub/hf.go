package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// DefaultEndpoint is the Hugging Face hub used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// DefaultInclude selects the files a model needs when PullOptions.Include is
// empty: configuration, tokenizer and safetensors weights (with their shard
// index) at the top level of the repository.
var DefaultInclude = []string{
	"config.json",
	"generation_config.json",
	"tokenizer.json",
	"tokenizer_config.json",
	"special_tokens_map.json",
	"*.safetensors",
	"*.safetensors.index.json",
}

// Errors returned (wrapped) by Pull and Lookup.
var (
	// ErrAuth: the hub refused access (HTTP 401 or 403): a private or gated
	// repository, or a missing or invalid HF_TOKEN.
	ErrAuth = errors.New("access denied")
	// ErrNotFound: the repository, revision or file does not exist (HTTP 404),
	// or, for Lookup, was not pulled.
	ErrNotFound = errors.New("not found")
)

// PullOptions configures Pull. The zero value is ready to use.
type PullOptions struct {
	// Home overrides Home() when not empty.
	Home string
	// Endpoint is the hub's base URL; empty means $HF_ENDPOINT, else DefaultEndpoint.
	Endpoint string
	// Token is sent as "Authorization: Bearer"; empty means $HF_TOKEN.
	Token string
	// Include selects repository paths by path.Match globs ("*" does not
	// cross "/"); empty means DefaultInclude. Exclude removes paths from
	// the selection.
	Include, Exclude []string
	// Verify re-hashes files already installed instead of trusting them.
	// (Pull installs a file only after checking it, so by default a present
	// file of the right size is taken as complete.)
	Verify bool
	// Progress, when set, is called as files are downloaded.
	Progress func(PullProgress)
	// OnRetry, when set, is told of each retry before its wait: what
	// failed and how long until the next attempt.
	OnRetry func(RetryEvent)
	// Client is the HTTP client; nil means one with a response-header timeout.
	Client *http.Client
	// Retries is how many times a request is retried after a 5xx, 429 or
	// connection error without progress in between; 0 means 5, negative none.
	Retries int
	// Backoff is the first retry's delay, doubled on each further retry up
	// to 30s; 0 means 1s. A server's Retry-After (seconds or HTTP date)
	// replaces it, also capped at 30s.
	Backoff time.Duration
	// StallTimeout aborts (and retries) a download that receives no data for
	// this long; 0 means 60s.
	StallTimeout time.Duration
}

// PullProgress describes the progress of a Pull.
type PullProgress struct {
	File     string // repository path of the file being downloaded
	FileDone int64  // bytes of File present
	FileSize int64  // File's size, -1 when unknown
	Done     int64  // bytes present over all selected files
	Total    int64  // size of all selected files (files of unknown size count 0)
}

// RetryEvent describes a retry of a failed request.
type RetryEvent struct {
	Err     error         // what failed
	Attempt int           // the retry about to happen, from 1
	Retries int           // the most retries
	Wait    time.Duration // the wait before it
}

// Repo names a hub repository at a revision.
type Repo struct {
	Org, Name string
	Rev       string // branch, tag or commit; "main" when not given
}

func (r Repo) String() string { return r.Org + "/" + r.Name + "@" + r.Rev }

// ID returns "ORG/NAME".
func (r Repo) ID() string { return r.Org + "/" + r.Name }

var repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ParseRepo parses "ORG/NAME[@REV]".
func ParseRepo(s string) (Repo, error) {
	id, rev, hasRev := strings.Cut(s, "@")
	if !hasRev {
		rev = "main"
	}
	org, name, ok := strings.Cut(id, "/")
	if !ok || !repoPart.MatchString(org) || !repoPart.MatchString(name) || strings.Contains(id, "..") {
		return Repo{}, fmt.Errorf("bad repository %q: want ORG/NAME[@REVISION]", s)
	}
	if rev == "" || strings.ContainsAny(rev, "\\ \t\r\n") {
		return Repo{}, fmt.Errorf("bad revision in %q", s)
	}
	for _, seg := range strings.Split(rev, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return Repo{}, fmt.Errorf("bad revision in %q", s)
		}
	}
	return Repo{Org: org, Name: name, Rev: rev}, nil
}

// RepoDir returns the cache directory of a hub repository,
// ModelsDir(home)/hf/ORG/NAME; revisions live in subdirectories named by
// commit, and refs/REV holds the commit REV resolved to.
func RepoDir(home string, r Repo) string {
	return filepath.Join(ModelsDir(home), "hf", r.Org, r.Name)
}

func refPath(home string, r Repo) string {
	return filepath.Join(RepoDir(home, r), "refs", filepath.FromSlash(r.Rev))
}

// Lookup returns the directory of a repository revision pulled before,
// without network access (home "" means Home()). It fails with ErrNotFound
// when no pull of that revision completed.
func Lookup(repo, home string) (string, error) {
	r, err := ParseRepo(repo)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(refPath(home, r))
	if os.IsNotExist(err) {
		return "", fmt.Errorf("%s: %w in the cache: pull it first", r, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	commit := strings.TrimSpace(string(b))
	if !validCommitDir(commit) {
		return "", fmt.Errorf("%s: bad ref %q", r, commit)
	}
	dir := filepath.Join(RepoDir(home, r), commit)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("%s: %w in the cache (%v): pull it again", r, ErrNotFound, err)
	}
	return dir, nil
}

func validCommitDir(s string) bool {
	return s != "" && s != "." && s != ".." && filepath.IsLocal(s) && !strings.ContainsAny(s, `/\`)
}

// selectFiles returns the entries whose paths the include and exclude
// globs select.
func selectFiles(files []remoteFile, include, exclude []string) ([]remoteFile, error) {
	if len(include) == 0 {
		include = DefaultInclude
	}
	for _, g := range append(append([]string{}, include...), exclude...) {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("bad glob %q: %w", g, err)
		}
	}
	match := func(globs []string, p string) bool {
		for _, g := range globs {
			if ok, _ := path.Match(g, p); ok {
				return true
			}
		}
		return false
	}
	var out []remoteFile
	for _, f := range files {
		if match(include, f.Path) && !match(exclude, f.Path) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Pull downloads a Hugging Face hub repository's model files ("ORG/NAME" or
// "ORG/NAME@REV"; see PullOptions for which files) into
// ModelsDir/hf/ORG/NAME/COMMIT and returns that directory. REV, "main" by
// default, is resolved to its commit, recorded in refs/REV for Lookup. Files
// already present are not downloaded again; interrupted downloads resume.
func Pull(ctx context.Context, repo string, opts PullOptions) (string, error) {
	r, err := ParseRepo(repo)
	if err != nil {
		return "", err
	}
	c := newClient(opts)
	l, err := c.list(ctx, r)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", r, err)
	}
	sel, err := selectFiles(l.files, opts.Include, opts.Exclude)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", r, err)
	}
	if len(sel) == 0 {
		return "", fmt.Errorf("pull %s: %w: no files match %q", r, ErrNotFound, orDefaultGlobs(opts.Include))
	}
	repoDir := RepoDir(opts.Home, r)
	release, err := lock(ctx, filepath.Join(repoDir, ".lock"))
	if err != nil {
		return "", err
	}
	defer release()
	dir := filepath.Join(repoDir, l.dir)
	tp := &totalProgress{fn: opts.Progress}
	for _, f := range sel {
		if f.Size > 0 {
			tp.total += f.Size
		}
	}
	for _, f := range sel {
		if err := c.fetch(ctx, r, l.commit, f, dir, opts.Verify, tp); err != nil {
			return "", fmt.Errorf("pull %s: %s: %w", r, f.Path, err)
		}
	}
	ref := refPath(opts.Home, r)
	if err := os.MkdirAll(filepath.Dir(ref), 0o755); err != nil {
		return "", err
	}
	if err := atomicfile.WriteBytes(ref, 0o644, []byte(l.dir+"\n")); err != nil {
		return "", err
	}
	return dir, nil
}

func orDefaultGlobs(g []string) []string {
	if len(g) == 0 {
		return DefaultInclude
	}
	return g
}

// totalProgress aggregates progress over the files of a pull.
type totalProgress struct {
	fn          func(PullProgress)
	done, total int64
}

func (t *totalProgress) report(file string, fileDone, fileSize int64) {
	if t.fn != nil {
		t.fn(PullProgress{File: file, FileDone: fileDone, FileSize: fileSize, Done: t.done + fileDone, Total: t.total})
	}
}
