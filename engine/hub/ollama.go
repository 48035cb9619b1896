package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ollama's store, read-only.
//
// ollama keeps models in a content-addressed store ($OLLAMA_MODELS, else
// ~/.ollama/models):
//
//	manifests/HOST/NAMESPACE/NAME/TAG   a manifest (Docker/OCI image manifest v2, JSON)
//	blobs/sha256-HEX                    each layer's content, named by its digest
//
// A manifest's layers are typed by media type: the weights
// (application/vnd.ollama.image.model, a GGUF file), the chat template
// (….template, Go text/template syntax), the default system prompt
// (….system), sampling parameters (….params, JSON), the licence, and
// optionally LoRA adapters (….adapter) and a vision projector
// (….projector).

// Default parts of an ollama model name.
const (
	OllamaDefaultHost      = "registry.ollama.ai"
	OllamaDefaultNamespace = "library"
	OllamaDefaultTag       = "latest"
)

// Media types of the manifest layers limbic reads.
const (
	ollamaMediaModel     = "application/vnd.ollama.image.model"
	ollamaMediaTemplate  = "application/vnd.ollama.image.template"
	ollamaMediaSystem    = "application/vnd.ollama.image.system"
	ollamaMediaParams    = "application/vnd.ollama.image.params"
	ollamaMediaAdapter   = "application/vnd.ollama.image.adapter"
	ollamaMediaProjector = "application/vnd.ollama.image.projector"
)

// OllamaRef names a model in ollama's store: HOST/NAMESPACE/NAME:TAG.
type OllamaRef struct {
	Host, Namespace, Name, Tag string
}

// String is the full name, HOST/NAMESPACE/NAME:TAG.
func (r OllamaRef) String() string {
	return r.Host + "/" + r.Namespace + "/" + r.Name + ":" + r.Tag
}

// Short is the name as ollama lists it: the default host and namespace
// left out.
func (r OllamaRef) Short() string {
	s := r.Name + ":" + r.Tag
	switch {
	case r.Host != OllamaDefaultHost:
		return r.Host + "/" + r.Namespace + "/" + s
	case r.Namespace != OllamaDefaultNamespace:
		return r.Namespace + "/" + s
	}
	return s
}

var (
	ollamaPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$`)
	ollamaHost = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,253}(:[0-9]{1,5})?$`)
	ollamaTag  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$`)
)

// ParseOllamaRef parses [HOST/][NAMESPACE/]NAME[:TAG] as ollama does:
// the host defaults to registry.ollama.ai, the namespace to library and the
// tag to latest. Each part is checked so that the name cannot reach outside
// the store's manifests directory.
func ParseOllamaRef(s string) (OllamaRef, error) {
	r := OllamaRef{Host: OllamaDefaultHost, Namespace: OllamaDefaultNamespace, Tag: OllamaDefaultTag}
	name := s
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		name, r.Tag = s[:i], s[i+1:]
		if !ollamaTag.MatchString(r.Tag) {
			return OllamaRef{}, fmt.Errorf("ollama model %q: bad tag %q", s, r.Tag)
		}
	}
	parts := strings.Split(name, "/")
	switch len(parts) {
	case 1:
		r.Name = parts[0]
	case 2:
		r.Namespace, r.Name = parts[0], parts[1]
	case 3:
		r.Host, r.Namespace, r.Name = parts[0], parts[1], parts[2]
		if !ollamaHost.MatchString(r.Host) || strings.Contains(r.Host, "..") {
			return OllamaRef{}, fmt.Errorf("ollama model %q: bad registry host %q", s, r.Host)
		}
	default:
		return OllamaRef{}, fmt.Errorf("ollama model %q: want [HOST/][NAMESPACE/]NAME[:TAG]", s)
	}
	for _, p := range []struct{ what, v string }{{"namespace", r.Namespace}, {"name", r.Name}} {
		if !ollamaPart.MatchString(p.v) || strings.Contains(p.v, "..") {
			return OllamaRef{}, fmt.Errorf("ollama model %q: bad %s %q", s, p.what, p.v)
		}
	}
	return r, nil
}

// OllamaDir returns ollama's model store: $OLLAMA_MODELS, else
// ~/.ollama/models.
func OllamaDir() string {
	if d := os.Getenv("OLLAMA_MODELS"); d != "" {
		return d
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".ollama", "models")
	}
	return filepath.Join(h, ".ollama", "models")
}

// OllamaModel is a model found in ollama's store.
type OllamaModel struct {
	Ref      OllamaRef
	Manifest string // the manifest's path
	Blob     string // the weights (GGUF) blob's path
	Digest   string // the weights' digest, "sha256:HEX"
	Size     int64  // the weights' size in bytes, as the manifest says
	// Template is the chat template layer (Go text/template syntax, ""
	// when the manifest has none); System the default system prompt.
	Template string
	System   string
	// Params is the params layer (sampling settings, stop words) as JSON.
	Params json.RawMessage
	// Projector is set when the manifest carries a vision projector, which
	// limbic does not run (the text model works without it).
	Projector bool
}

type ollamaManifest struct {
	SchemaVersion int           `json:"schemaVersion"`
	Layers        []ollamaLayer `json:"layers"`
}

type ollamaLayer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

var ollamaDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// blobPath returns the path of a digest's blob: blobs/sha256-HEX (older
// stores used "sha256:HEX" as the file name; both are looked for).
func blobPath(dir, digest string) (string, error) {
	if !ollamaDigest.MatchString(digest) {
		return "", fmt.Errorf("bad layer digest %q (want sha256:<64 hex digits>)", digest)
	}
	p := filepath.Join(dir, "blobs", strings.Replace(digest, ":", "-", 1))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if old := filepath.Join(dir, "blobs", digest); fileExists(old) {
		return old, nil
	}
	return p, fmt.Errorf("blob %s is missing from %s", digest, filepath.Join(dir, "blobs"))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// ErrOllamaNotFound is returned (wrapped) when the store has no such model.
var ErrOllamaNotFound = errors.New("not in ollama's store")

// OpenOllama finds ref in the ollama store dir ("" means OllamaDir()) and
// reads its manifest. It reads only; the weights are not hashed here (see
// VerifyOllama). A model that is not there gets an error that lists the
// models that are.
func OpenOllama(ref, dir string) (*OllamaModel, error) {
	if dir == "" {
		dir = OllamaDir()
	}
	r, err := ParseOllamaRef(ref)
	if err != nil {
		return nil, err
	}
	mpath := filepath.Join(dir, "manifests", r.Host, r.Namespace, r.Name, r.Tag)
	b, err := os.ReadFile(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		have, _ := ListOllama(dir)
		names := make([]string, len(have))
		for i, m := range have {
			names[i] = m.Ref.Short()
		}
		msg := "the store has no models"
		if len(names) > 0 {
			msg = "the store has: " + strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("ollama model %s: %w at %s (%s)", r.Short(), ErrOllamaNotFound, dir, msg)
	}
	if err != nil {
		return nil, fmt.Errorf("ollama model %s: %w", r.Short(), err)
	}
	m, err := parseOllamaManifest(dir, b)
	if err != nil {
		return nil, fmt.Errorf("ollama model %s: manifest %s: %w", r.Short(), mpath, err)
	}
	m.Ref, m.Manifest = r, mpath
	return m, nil
}

// parseOllamaManifest reads a manifest's layers; the small text layers
// (template, system, params) are read from their blobs.
func parseOllamaManifest(dir string, b []byte) (*OllamaModel, error) {
	var man ollamaManifest
	if err := json.Unmarshal(b, &man); err != nil {
		return nil, fmt.Errorf("not a manifest: %w", err)
	}
	if man.SchemaVersion != 2 {
		return nil, fmt.Errorf("schemaVersion %d, want 2", man.SchemaVersion)
	}
	m := &OllamaModel{}
	small := func(l ollamaLayer) ([]byte, error) {
		p, err := blobPath(dir, l.Digest)
		if err != nil {
			return nil, err
		}
		if l.Size > 1<<20 {
			return nil, fmt.Errorf("%s layer %s is %d bytes, want at most 1 MiB", l.MediaType, l.Digest, l.Size)
		}
		return os.ReadFile(p)
	}
	for _, l := range man.Layers {
		switch l.MediaType {
		case ollamaMediaModel:
			if m.Blob != "" {
				return nil, errors.New("more than one model layer")
			}
			p, err := blobPath(dir, l.Digest)
			if err != nil {
				return nil, err
			}
			m.Blob, m.Digest, m.Size = p, l.Digest, l.Size
		case ollamaMediaTemplate:
			b, err := small(l)
			if err != nil {
				return nil, err
			}
			m.Template = string(b)
		case ollamaMediaSystem:
			b, err := small(l)
			if err != nil {
				return nil, err
			}
			m.System = string(b)
		case ollamaMediaParams:
			b, err := small(l)
			if err != nil {
				return nil, err
			}
			if !json.Valid(b) {
				return nil, fmt.Errorf("params layer %s is not JSON", l.Digest)
			}
			m.Params = b
		case ollamaMediaAdapter:
			return nil, fmt.Errorf("it has a LoRA adapter layer (%s), which limbic does not apply; load the base model, or merge the adapter and import the result", l.Digest)
		case ollamaMediaProjector:
			m.Projector = true
		}
	}
	if m.Blob == "" {
		return nil, errors.New("no model layer (" + ollamaMediaModel + ")")
	}
	return m, nil
}

// VerifyOllama checks that the weights blob has the manifest's digest. The
// result is remembered in limbic's cache (home "" means Home()), keyed by
// the blob's size and modification time, so a model is hashed once; ollama's
// store is never written.
func VerifyOllama(m *OllamaModel, home string) error {
	want := strings.TrimPrefix(m.Digest, "sha256:")
	fi, err := os.Stat(m.Blob)
	if err != nil {
		return err
	}
	if m.Size > 0 && fi.Size() != m.Size {
		return fmt.Errorf("ollama model %s: blob %s has %d bytes, the manifest says %d", m.Ref.Short(), m.Blob, fi.Size(), m.Size)
	}
	if home == "" {
		home = Home()
	}
	// The stamp is home/ollama/verified/sha256-HEX.sha256.
	sp := filepath.Join(home, "ollama", "verified", "sha256-"+want)
	if s, ok := readStamp(sp); ok && s.sum == want && s.size == fi.Size() && s.mtime == fi.ModTime().UnixNano() {
		return nil
	}
	sum, err := fileSHA256(m.Blob)
	if err != nil {
		return err
	}
	if sum != want {
		return fmt.Errorf("ollama model %s: blob %s has sha256 %s, the manifest says %s (a damaged download: run `ollama pull %s`)", m.Ref.Short(), m.Blob, sum, want, m.Ref.Short())
	}
	if err := os.MkdirAll(filepath.Dir(sp), 0o755); err != nil {
		return err
	}
	return writeStamp(sp, fi, sum)
}

// ListOllama lists the models in the store dir ("" means OllamaDir()),
// sorted by short name. A directory without a store lists nothing; manifests
// that cannot be read are skipped.
func ListOllama(dir string) ([]OllamaModel, error) {
	if dir == "" {
		dir = OllamaDir()
	}
	root := filepath.Join(dir, "manifests")
	var out []OllamaModel
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 4 {
			return nil
		}
		r := OllamaRef{Host: parts[0], Namespace: parts[1], Name: parts[2], Tag: parts[3]}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		m, err := parseOllamaManifest(dir, b)
		if err != nil {
			return nil
		}
		m.Ref, m.Manifest = r, p
		out = append(out, *m)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Ref.Short() < out[j].Ref.Short() })
	return out, err
}
