// Package dashboard is limbic's web dashboard: a chat box, a live chart of
// the top emotions of each streamed token, steering controls and the alert
// list, as static files embedded in the binary (hand-written HTML, CSS and
// JavaScript, no framework, nothing fetched from other hosts). The page
// talks to the API of serve/api on the same origin.
//
// Handler serves exactly the embedded files: "/" is index.html, every other
// path must name one of them, and anything else (including every traversal
// attempt, which can only name a file outside the set) is a 404.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every response: scripts, styles,
// images and connections from the page's own origin only.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
}

// files maps a URL path ("/", "/app.js") to its file.
var files = func() map[string]*file {
	out := map[string]*file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		f := &file{name: path.Base(p), body: body, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		url := strings.TrimPrefix(p, "static")
		out[url] = f
		if url == "/index.html" {
			out["/"] = f
		}
		return nil
	})
	if err != nil {
		panic("dashboard: embedded files: " + err.Error())
	}
	return out
}()

// Handler serves the dashboard's files for GET and HEAD. It looks the
// request path up in the set of embedded files without touching any file
// system, so no path can reach outside it; unknown paths are 404s. Every
// response carries the CSP and nosniff; files are revalidated by ETag
// (Cache-Control: no-cache), so a new binary's page is picked up at once.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f := files[r.URL.Path]
		if f == nil {
			h.Set("Cache-Control", "no-store")
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		h.Set("Content-Type", f.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	})
}
