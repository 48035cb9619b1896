package dashboard

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://dash.test/", nil)
	req.URL.Path = target // as the server would decode it, unchecked
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestFilesAndContentTypes(t *testing.T) {
	h := Handler()
	for _, tc := range []struct{ path, ctype, want string }{
		{"/", "text/html; charset=utf-8", "<script src=\"app.js\""},
		{"/index.html", "text/html; charset=utf-8", "<!doctype html>"},
		{"/app.js", "text/javascript; charset=utf-8", "use strict"},
		{"/style.css", "text/css; charset=utf-8", ":root"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		w := get(t, h, "GET", tc.path)
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.ctype || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, w.Code, w.Header().Get("Content-Type"), tc.want, strings.Contains(w.Body.String(), tc.want))
		}
		for k, v := range map[string]string{"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"} {
			if got := w.Header().Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, v)
			}
		}
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", tc.path)
			continue
		}
		if w := get(t, h, "GET", tc.path, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("GET %s with its ETag: %d, %d bytes", tc.path, w.Code, w.Body.Len())
		}
		if w := get(t, h, "HEAD", tc.path); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("HEAD %s: %d, %d bytes", tc.path, w.Code, w.Body.Len())
		}
	}
	if w := get(t, h, "POST", "/"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d allow %q", w.Code, w.Header().Get("Allow"))
	}
}

// TestNoTraversal: the handler serves only its embedded files, whatever the
// path, decoded or not, cleaned or not.
func TestNoTraversal(t *testing.T) {
	h := Handler()
	for _, p := range []string{
		"/../go.mod", "/..", "/../", "/../../etc/passwd", "/%2e%2e/go.mod", "/%2e%2e/", "/..%2fgo.mod",
		"//etc/passwd", "/etc/passwd", "/static/index.html", "/./index.html", "/static/../dashboard.go",
		"/dashboard.go", "/app.js/", "/app.js/..", "/index.html/", "/.", "/C:/Windows/win.ini", "/\\..\\go.mod",
		"/app.js%00", "/nope", "/favicon.ico", "", "index.html", "../go.mod",
	} {
		w := get(t, h, "GET", p)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %q: %d, want 404", p, w.Code)
		}
		if strings.Contains(w.Body.String(), "module github.com") || strings.Contains(w.Body.String(), "package dashboard") {
			t.Errorf("GET %q leaked a file: %.80q", p, w.Body.String())
		}
	}
}

// TestNoTraversalOverTheWire sends raw request lines, so that neither the
// client nor net/url cleans them, to a server with the handler at /.
func TestNoTraversalOverTheWire(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /", Handler())
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for _, target := range []string{
		"/../go.mod", "/%2e%2e/go.mod", "/%2e%2e/", "/%2E%2E%2Fgo.mod", "//etc/passwd", "/..%2f..%2fetc%2fpasswd",
		"/static/../../go.mod", "/%2e%2e%5cgo.mod", "/.%2e/dashboard.go",
	} {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		// The mux may redirect an unclean path to its clean form; a
		// redirect serves nothing, and the clean form is a 404 too.
		switch resp.StatusCode {
		case http.StatusNotFound:
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect:
			loc := resp.Header.Get("Location")
			if w := get(t, Handler(), "GET", loc); w.Code != http.StatusNotFound {
				t.Errorf("%s → %s: %d", target, loc, w.Code)
			}
		default:
			t.Errorf("%s: %d %.80q", target, resp.StatusCode, body)
		}
		if strings.Contains(string(body), "module github.com") || strings.Contains(string(body), "root:") {
			t.Errorf("%s leaked a file", target)
		}
	}
}

// TestNoExternalReferences: the page loads nothing from another origin.
func TestNoExternalReferences(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?(https?:|//)`)
	for name, f := range files {
		if name == "/" {
			continue
		}
		body := string(f.body)
		// The SVG namespace is a name, not a fetch.
		body = strings.ReplaceAll(body, `http://www.w3.org/2000/svg`, "")
		if m := ext.FindString(body); m != "" {
			t.Errorf("%s references %q", name, m)
		}
	}
	if len(files) < 5 {
		t.Fatalf("embedded files: %d", len(files))
	}
}
