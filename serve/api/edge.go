package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// The HTTP edge: what every request passes before and after its route —
// the Host check, the request log, OpenAI-shaped 404 and 405 — plus the
// queue bound, the stream writer and the http.Server settings.

// setupEdge wraps the routes in the edge handlers and reports how the
// server is exposed.
func (s *Server) setupEdge() error {
	if s.cfg.BindAddr != "" {
		loop, err := loopbackAddr(s.cfg.BindAddr)
		if err != nil {
			return fmt.Errorf("serve: bind address: %w", err)
		}
		s.hostCheck = loop
		if !loop && s.cfg.APIKey == "" {
			s.log.Warn("SERVING BEYOND LOOPBACK WITHOUT AN API KEY: anyone who can reach " + s.cfg.BindAddr +
				" can generate and read stored conversations; set --api-key (or LIMBIC_API_KEY) or bind 127.0.0.1")
		}
	}
	s.handler = s.logRequests(s.checkHost(s.jsonErrors(s.mux)))
	return nil
}

// loopbackAddr reports whether a listen address ("127.0.0.1:8080",
// "[::1]:0", "localhost:8080") is on loopback only; an empty host (all
// interfaces) or any other name is not.
func loopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	return loopbackHost(host), nil
}

// loopbackHost reports whether host (no port) is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// allowedHost reports whether a request's Host header names loopback:
// localhost, 127.0.0.0/8 or [::1], with any port.
func allowedHost(h string) bool {
	host := h
	if hh, _, err := net.SplitHostPort(h); err == nil {
		host = hh
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		host = h[1 : len(h)-1]
	}
	return loopbackHost(host)
}

// checkHost answers 403 to a request whose Host is not loopback when the
// server is bound to loopback: a page on another site that rebinds its
// name to 127.0.0.1 must not reach the API.
func (s *Server) checkHost(h http.Handler) http.Handler {
	if !s.hostCheck {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedHost(r.Host) {
			writeAPIError(w, &apiError{status: http.StatusForbidden, typ: "invalid_request_error", param: "Host",
				msg: fmt.Sprintf("host %q not allowed: this server is bound to loopback and answers only localhost, 127.0.0.0/8 and [::1]", r.Host)})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// jsonErrors makes the mux's 404 and 405 answers OpenAI-shaped JSON, and
// keeps unknown /v1/ paths from reaching the dashboard's catch-all.
func (s *Server) jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern == "GET /" && (strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1") {
			// The dashboard's catch-all is no API route.
			if allow := apiMethods(mux, r); allow != "" {
				w.Header().Set("Allow", allow)
				writeError(w, http.StatusMethodNotAllowed, "invalid_request_error",
					fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
				return
			}
			writeError(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
			return
		}
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No route: 404, or 405 when another method has one. Let the mux
		// decide (and set Allow), then replace its plain-text body.
		c := &captureWriter{header: http.Header{}}
		h.ServeHTTP(c, r)
		switch c.status {
		case http.StatusNotFound:
			writeError(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", c.header.Get("Allow"))
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error",
				fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, c.header.Get("Allow")))
		default:
			for k, v := range c.header {
				w.Header()[k] = v
			}
			w.WriteHeader(c.status)
			w.Write(c.body.Bytes())
		}
	})
}

// apiMethods lists the methods with an API route (not the dashboard's
// catch-all) for r's path, as an Allow header.
func apiMethods(mux *http.ServeMux, r *http.Request) string {
	var allow []string
	for _, m := range []string{"GET", "POST"} {
		rr := r.Clone(r.Context())
		rr.Method = m
		if _, p := mux.Handler(rr); p != "" && p != "GET /" {
			allow = append(allow, m)
			if m == "GET" {
				allow = append(allow, "HEAD")
			}
		}
	}
	return strings.Join(allow, ", ")
}

// captureWriter records a response.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.body.Write(b)
}

// logRequests logs one line per request: method, path, status, duration
// and response bytes.
func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &logWriter{ResponseWriter: w}
		defer func() {
			status := lw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Duration("duration", time.Since(start)), slog.Int64("bytes", lw.bytes),
				slog.String("remote", r.RemoteAddr))
		}()
		h.ServeHTTP(lw, r)
	})
}

// logWriter counts a response's status and bytes; it keeps Flush and
// Unwrap (for http.ResponseController).
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (l *logWriter) WriteHeader(code int) {
	if l.status == 0 {
		l.status = code
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *logWriter) Write(b []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := l.ResponseWriter.Write(b)
	l.bytes += int64(n)
	return n, err
}

func (l *logWriter) Flush() {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	http.NewResponseController(l.ResponseWriter).Flush()
}

func (l *logWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// HTTPServer returns an http.Server for the handler with the configured
// header timeout (a client that trickles its headers is cut off); request
// bodies have their own deadline (Config.BodyTimeout). Write timeouts are
// left off: responses stream for as long as generation runs.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// admit counts a generation request in, or reports false when more than
// MaxQueue requests already wait for one of the MaxSeqs slots.
func (s *Server) admit() bool {
	n := s.inflight.Add(1)
	if s.cfg.MaxQueue >= 0 && n > int64(s.cfg.MaxSeqs+s.cfg.MaxQueue) {
		s.inflight.Add(-1)
		return false
	}
	return true
}

// release counts an admitted request out and brings the load gauges up to
// date (a request canceled before it ran leaves no batcher step to do it).
func (s *Server) release() {
	s.inflight.Add(-1)
	s.refreshLoad()
}

// refreshLoad sets the queue and active-sequence gauges from the
// batcher's live counts; at 0 active the tokens/s gauge drops to 0.
func (s *Server) refreshLoad() {
	if s.metrics == nil {
		return
	}
	waiting, active := s.batcher.Load()
	s.metrics.SetQueue(waiting, active)
}

// sseWriter writes server-sent events. An event that does not encode is
// logged and replaced by an error event that ends the stream; after that,
// or after a failed write (the client is gone), sends do nothing.
type sseWriter struct {
	w      http.ResponseWriter
	f      http.Flusher
	log    *slog.Logger
	failed bool
}

// send writes one event and reports whether the stream goes on.
func (e *sseWriter) send(v any) bool {
	if e.failed {
		return false
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.log.Error("encoding a stream event", "err", err)
		e.failed = true
		b, _ = json.Marshal(ErrorBody{Error: ErrorDetail{Message: "a stream event could not be encoded (a non-finite number?); the stream ends here", Type: "server_error"}})
		fmt.Fprintf(e.w, "data: %s\n\n", b)
		e.f.Flush()
		return false
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		e.failed = true
		return false
	}
	e.f.Flush()
	return true
}

// done ends a stream that did not fail with [DONE].
func (e *sseWriter) done() {
	if e.failed {
		return
	}
	fmt.Fprint(e.w, "data: [DONE]\n\n")
	e.f.Flush()
}
