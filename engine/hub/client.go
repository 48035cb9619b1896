package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/internal/retry"
)

// client talks to a Hugging Face hub.
type client struct {
	endpoint string
	token    string
	http     *http.Client
	retries  int
	backoff  time.Duration
	stall    time.Duration
	onRetry  func(RetryEvent)
}

func newClient(opts PullOptions) *client {
	c := &client{
		endpoint: opts.Endpoint,
		token:    opts.Token,
		http:     opts.Client,
		retries:  opts.Retries,
		backoff:  opts.Backoff,
		stall:    opts.StallTimeout,
		onRetry:  opts.OnRetry,
	}
	if c.endpoint == "" {
		c.endpoint = os.Getenv("HF_ENDPOINT")
	}
	if c.endpoint == "" {
		c.endpoint = DefaultEndpoint
	}
	c.endpoint = strings.TrimRight(c.endpoint, "/")
	if c.token == "" {
		c.token = os.Getenv("HF_TOKEN")
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = time.Minute
		c.http = &http.Client{Transport: t}
	}
	switch {
	case c.retries == 0:
		c.retries = 5
	case c.retries < 0:
		c.retries = 0
	}
	if c.backoff <= 0 {
		c.backoff = time.Second
	}
	if c.stall <= 0 {
		c.stall = time.Minute
	}
	return c
}

// remoteFile is a file of a repository revision.
type remoteFile struct {
	Path string
	Size int64  // -1 when unknown
	SHA  string // SHA-256 of the content (LFS files), or ""
	Blob string // git blob SHA-1 (other files), or ""
}

type treeEntry struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	OID  string `json:"oid"`
	LFS  *struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	} `json:"lfs"`
}

var (
	hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
	hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// listing is a repository revision's file list.
type listing struct {
	commit string // the commit (or, when the hub does not say, the revision)
	dir    string // the revision directory's name: commit with "/" made "--"
	files  []remoteFile
}

// list resolves r's revision to a commit and lists its files:
// GET /api/models/ORG/NAME/revision/REV gives the commit ("sha") and the
// file names ("siblings"); GET /api/models/ORG/NAME/tree/COMMIT?recursive=true,
// paginated through Link headers, gives sizes and digests. When the tree
// endpoint is missing (404) the sibling names are used, sizes unknown.
func (c *client) list(ctx context.Context, r Repo) (*listing, error) {
	var info struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	base := c.endpoint + "/api/models/" + r.Org + "/" + r.Name
	if _, err := c.getJSON(ctx, base+"/revision/"+url.PathEscape(r.Rev), r, &info); err != nil {
		return nil, err
	}
	commit := info.SHA
	if commit == "" {
		commit = r.Rev // hubs that do not resolve revisions: name the directory after REV
	} else if !hex40.MatchString(commit) {
		return nil, fmt.Errorf("hub returned bad commit %q", commit)
	}
	dirName := strings.ReplaceAll(commit, "/", "--")
	if !validCommitDir(dirName) {
		return nil, fmt.Errorf("bad revision %q", commit)
	}

	var files []remoteFile
	next := base + "/tree/" + url.PathEscape(commit) + "?recursive=true"
	for pages := 0; next != ""; pages++ {
		if pages > 10000 {
			return nil, errors.New("tree listing: too many pages")
		}
		var page []treeEntry
		h, err := c.getJSON(ctx, next, r, &page)
		if errors.Is(err, ErrNotFound) && pages == 0 {
			files = nil
			for _, s := range info.Siblings {
				files = append(files, remoteFile{Path: s.RFilename, Size: -1})
			}
			break
		}
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.Type != "file" {
				continue
			}
			f := remoteFile{Path: e.Path, Size: e.Size}
			if e.LFS != nil {
				f.Size = e.LFS.Size
				if oid := strings.ToLower(e.LFS.OID); hex64.MatchString(oid) {
					f.SHA = oid
				}
			} else if oid := strings.ToLower(e.OID); hex40.MatchString(oid) {
				f.Blob = oid
			}
			files = append(files, f)
		}
		if next, err = c.nextLink(next, h.Get("Link")); err != nil {
			return nil, err
		}
	}
	var ok []remoteFile
	for _, f := range files {
		if !filepath.IsLocal(filepath.FromSlash(f.Path)) || strings.Contains(f.Path, `\`) {
			return nil, fmt.Errorf("hub listed unsafe path %q", f.Path)
		}
		ok = append(ok, f)
	}
	return &listing{commit: commit, dir: dirName, files: ok}, nil
}

var linkNext = regexp.MustCompile(`<([^>]*)>\s*;[^,]*\brel="?next"?`)

// nextLink returns the rel="next" URL of a Link header, resolved against cur;
// it must stay on the hub's host (the token is sent there).
func (c *client) nextLink(cur, link string) (string, error) {
	m := linkNext.FindStringSubmatch(link)
	if m == nil {
		return "", nil
	}
	base, err := url.Parse(cur)
	if err != nil {
		return "", err
	}
	u, err := base.Parse(m[1])
	if err != nil {
		return "", fmt.Errorf("bad Link header %q: %w", link, err)
	}
	if u.Host != base.Host || u.Scheme != base.Scheme {
		return "", fmt.Errorf("tree listing: next page %s leaves %s", u, base.Host)
	}
	return u.String(), nil
}

func (c *client) newRequest(ctx context.Context, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "limbic")
	return req, nil
}

// getJSON GETs u into v, retrying transient failures.
func (c *client) getJSON(ctx context.Context, u string, r Repo, v any) (http.Header, error) {
	for failures := 0; ; failures++ {
		req, err := c.newRequest(ctx, u)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.http.Do(req)
		if err == nil {
			if err = c.statusError(resp, r, ""); err == nil {
				err = json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(v)
				if err != nil {
					err = &retryable{fmt.Errorf("decode %s: %w", u, err), 0}
				}
			}
			resp.Body.Close()
			if err == nil {
				return resp.Header, nil
			}
		}
		if err := c.wait(ctx, err, failures); err != nil {
			return nil, err
		}
	}
}

// retryable marks an error worth retrying; after is the server's Retry-After.
type retryable struct {
	err   error
	after time.Duration
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

// wait decides whether to retry after err, the failures-th consecutive
// failure (from 0), and sleeps before the retry. It returns the error to
// give up with, or nil to retry.
func (c *client) wait(ctx context.Context, err error, failures int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *retryable
	var ue *url.Error
	var ce *tls.CertificateVerificationError
	switch {
	case errors.As(err, &re):
	case errors.As(err, &ue) && !errors.As(err, &ce): // connection errors
	default:
		return err
	}
	if failures >= c.retries {
		if c.retries > 0 {
			return fmt.Errorf("%w (gave up after %d retries)", err, c.retries)
		}
		return err
	}
	var after time.Duration
	if re != nil {
		after = re.after
	}
	p := retry.Policy{Initial: c.backoff, Max: 30 * time.Second}
	d := p.Delay(failures+1, after)
	if c.onRetry != nil {
		c.onRetry(RetryEvent{Err: err, Attempt: failures + 1, Retries: c.retries, Wait: d})
	}
	return p.SleepFor(ctx, d)
}

// statusError turns a failed response into an error; file is the repository
// path requested, "" for API calls.
func (c *client) statusError(resp *http.Response, r Repo, file string) error {
	if resp.StatusCode < 300 {
		return nil
	}
	code := resp.Header.Get("X-Error-Code")
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg = strings.TrimSpace(string(b))
		var j struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &j) == nil && j.Error != "" {
			msg = j.Error
		}
	}
	detail := ""
	if msg != "" {
		detail = " (hub: " + msg + ")"
	}
	status := resp.Status
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		if code == "RepoNotFound" {
			// The hub's answer, without a valid token, for repositories that
			// do not exist or that it will not show.
			return fmt.Errorf("%w (%w): repository %s: %s: check the name; if it is private or gated, set HF_TOKEN to a Hugging Face access token that can read it%s", ErrNotFound, ErrAuth, r.ID(), status, detail)
		}
		if c.token == "" {
			return fmt.Errorf("%w: %s: %s: the repository is private or gated, or does not exist; set HF_TOKEN to a Hugging Face access token that can read it%s", ErrAuth, r.ID(), status, detail)
		}
		return fmt.Errorf("%w: %s: %s: the token in HF_TOKEN was not accepted, or cannot read this repository%s", ErrAuth, r.ID(), status, detail)
	case s == http.StatusForbidden:
		if code == "GatedRepo" || strings.Contains(strings.ToLower(msg), "gated") {
			return fmt.Errorf("%w: %s is a gated model: accept its conditions at %s/%s with your account, and set HF_TOKEN to a token of that account%s", ErrAuth, r.ID(), c.endpoint, r.ID(), detail)
		}
		return fmt.Errorf("%w: %s: %s: the token in HF_TOKEN lacks access (private or gated repository?)%s", ErrAuth, r.ID(), status, detail)
	case s == http.StatusNotFound:
		switch {
		case code == "RevisionNotFound":
			return fmt.Errorf("%w: revision %q of %s%s", ErrNotFound, r.Rev, r.ID(), detail)
		case code == "EntryNotFound" || (file != "" && code != "RepoNotFound"):
			return fmt.Errorf("%w: file %q in %s%s", ErrNotFound, file, r, detail)
		}
		hint := ""
		if c.token == "" {
			hint = "; private repositories need HF_TOKEN"
		}
		what := fmt.Sprintf("repository %s (or its revision %q)", r.ID(), r.Rev)
		if code == "RepoNotFound" {
			what = "repository " + r.ID()
		}
		return fmt.Errorf("%w: %s on %s%s%s", ErrNotFound, what, c.endpoint, hint, detail)
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		after := retry.RetryAfter(resp.Header, time.Now())
		return &retryable{fmt.Errorf("%s: %s%s", resp.Request.URL, status, detail), after}
	}
	return fmt.Errorf("%s: %s%s", resp.Request.URL, status, detail)
}

// fetch installs f into dir (as dir/f.Path) unless it is there already,
// downloading into a ".part" file that later calls resume.
func (c *client) fetch(ctx context.Context, r Repo, commit string, f remoteFile, dir string, verify bool, tp *totalProgress) error {
	dest := filepath.Join(dir, filepath.FromSlash(f.Path))
	if fi, err := os.Stat(dest); err == nil && fi.Mode().IsRegular() && (f.Size < 0 || fi.Size() == f.Size) {
		ok := true
		if verify {
			var err error
			if ok, err = c.check(dest, f, fi.Size()); err != nil && !errors.Is(err, ErrChecksum) {
				return err
			}
		}
		if ok {
			tp.report(f.Path, fi.Size(), fi.Size())
			tp.done += fi.Size()
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	u := c.endpoint + "/" + r.Org + "/" + r.Name + "/resolve/" + url.PathEscape(commit) + "/" + escapePath(f.Path)
	part := dest + ".part"
	fresh := false // the part file was downloaded in one go, from 0
	for {
		n, resumed, err := c.download(ctx, u, r, f, part, tp)
		if err != nil {
			return err
		}
		if ok, err := c.check(part, f, n); !ok {
			os.Remove(part)
			if errors.Is(err, ErrChecksum) && resumed && !fresh {
				// The resumed part may be the culprit (content changed on
				// the server): start over once.
				fresh = true
				continue
			}
			return err
		}
		break
	}
	pf, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := installFile(pf, dest); err != nil {
		return err
	}
	tp.done += max(f.Size, 0)
	if f.Size < 0 {
		if fi, err := os.Stat(dest); err == nil {
			tp.done += fi.Size()
		}
	}
	return nil
}

// installFile is installTemp for a file that is kept on failure (a complete
// .part worth keeping).
func installFile(f *os.File, final string) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err == nil {
		atomicfile.SyncDir(filepath.Dir(final))
	}
	return err
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// check verifies the n-byte file at p against f's size and digest.
// It returns (false, error wrapping ErrChecksum) on a mismatch.
func (c *client) check(p string, f remoteFile, n int64) (bool, error) {
	if f.Size >= 0 && n != f.Size {
		return false, fmt.Errorf("%w: %s is %d bytes, want %d; not installed", ErrChecksum, f.Path, n, f.Size)
	}
	var h hash.Hash
	var want, kind string
	switch {
	case f.SHA != "":
		h, want, kind = sha256.New(), f.SHA, "sha256"
	case f.Blob != "":
		h, want, kind = sha1.New(), f.Blob, "git blob sha1"
		fmt.Fprintf(h, "blob %d\x00", n)
	default:
		return true, nil // size only (see the package documentation)
	}
	file, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer file.Close()
	if _, err := io.Copy(h, file); err != nil {
		return false, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return false, fmt.Errorf("%w: %s has %s %s, want %s; not installed", ErrChecksum, f.Path, kind, got, want)
	}
	return true, nil
}

var errStalled = errors.New("download stalled")

// download fetches u into part, resuming what part holds, and returns the
// part's final size and whether a Range request was honoured on the way.
func (c *client) download(ctx context.Context, u string, r Repo, f remoteFile, part string, tp *totalProgress) (n int64, resumed bool, err error) {
	for failures := 0; ; failures++ {
		var offset int64
		if fi, err := os.Stat(part); err == nil {
			offset = fi.Size()
		}
		if f.Size >= 0 && offset > f.Size {
			offset = 0
		}
		if f.Size >= 0 && offset == f.Size && offset > 0 {
			return offset, true, nil // complete from an earlier run
		}
		got, complete, ranged, err := c.attempt(ctx, u, r, f, part, offset, tp)
		resumed = resumed || ranged
		if err == nil && complete {
			return got, resumed, nil
		}
		if got > offset {
			failures = 0 // progress was made: the budget of retries starts over
		}
		if err := c.wait(ctx, err, failures); err != nil {
			return 0, resumed, err
		}
	}
}

var contentRange = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+|\*)$`)

// attempt makes one request for u, writing into part from offset. It returns
// the part's size afterwards, whether the download completed, whether the
// server honoured a Range request, and an error.
func (c *client) attempt(ctx context.Context, u string, r Repo, f remoteFile, part string, offset int64, tp *totalProgress) (size int64, complete, ranged bool, err error) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := c.newRequest(rctx, u)
	if err != nil {
		return offset, false, false, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	timer := time.AfterFunc(c.stall, func() { cancel(errStalled) })
	defer timer.Stop()
	resp, err := c.http.Do(req)
	if err != nil {
		if context.Cause(rctx) == errStalled && ctx.Err() == nil {
			err = &retryable{fmt.Errorf("%s: no response in %v", u, c.stall), 0}
		}
		return offset, false, false, err
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusPartialContent:
		m := contentRange.FindStringSubmatch(resp.Header.Get("Content-Range"))
		if offset == 0 || m == nil || m[1] != strconv.FormatInt(offset, 10) {
			// Not the range asked for: start over, without Range.
			os.Remove(part)
			return 0, false, false, &retryable{fmt.Errorf("%s: unexpected Content-Range %q", u, resp.Header.Get("Content-Range")), 0}
		}
		ranged = true
	case http.StatusOK:
		offset = 0 // the server ignored Range (or none was sent): restart cleanly
	case http.StatusRequestedRangeNotSatisfiable:
		os.Remove(part) // start over
		return 0, false, false, &retryable{fmt.Errorf("%s: %s for bytes=%d-", u, resp.Status, offset), 0}
	default:
		return offset, false, false, c.statusError(resp, r, f.Path)
	}

	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	out, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return offset, false, ranged, err
	}
	defer out.Close()
	if _, err := out.Seek(offset, io.SeekStart); err != nil {
		return offset, false, ranged, err
	}
	fileSize := f.Size
	if fileSize < 0 && resp.ContentLength >= 0 {
		fileSize = offset + resp.ContentLength
	}
	tp.report(f.Path, offset, fileSize)
	pw := &progressWriter{w: out, done: offset, total: fileSize, report: func(d, t int64) {
		timer.Reset(c.stall)
		tp.report(f.Path, d, t)
	}}
	_, err = io.Copy(pw, resp.Body)
	size = pw.done
	if pw.err != nil {
		return size, false, ranged, pw.err // a local write error: not worth retrying
	}
	if err != nil {
		if ctx.Err() != nil {
			return size, false, ranged, ctx.Err()
		}
		if context.Cause(rctx) == errStalled {
			err = fmt.Errorf("no data for %v", c.stall)
		}
		return size, false, ranged, &retryable{fmt.Errorf("download %s: %w", f.Path, err), 0}
	}
	if resp.ContentLength >= 0 && size != offset+resp.ContentLength {
		return size, false, ranged, &retryable{fmt.Errorf("download %s: got %d bytes, want %d", f.Path, size-offset, resp.ContentLength), 0}
	}
	return size, true, ranged, nil
}
