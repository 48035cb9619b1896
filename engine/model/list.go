package model

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/hub"
)

// Sources of the models Available lists.
const (
	SourceEmbedded = "embedded"
	SourceHF       = "hf"
	SourceOllama   = "ollama"
	SourceRecipe   = "recipe"
)

// Entry is a model that limbic can open on this machine.
type Entry struct {
	Name   string `json:"name"`   // what to pass to --model
	Source string `json:"source"` // SourceEmbedded, SourceRecipe, SourceHF or SourceOllama
	Path   string `json:"path"`   // its file or directory
	Size   int64  `json:"size"`   // bytes of weights (0 when not fetched yet)
	Type   string `json:"type"`   // weight types, the largest share first ("Q4_K+Q6_K+F32", "bf16")
	Note   string `json:"note,omitempty"`
}

// Available lists the models limbic can open here without a download
// besides the embedded one: the embedded default model (whether fetched or
// not), the registered recipes' models (whether built or not), the Hugging Face repositories pulled into limbic's cache (home ""
// means hub.Home()), and the models in ollama's store (ollamaDir "" means
// hub.OllamaDir()). Nothing is hashed or loaded; GGUF headers are read for
// their weight types.
func Available(home, ollamaDir string) ([]Entry, error) {
	var out []Entry
	emb := Entry{Name: Default, Source: SourceEmbedded, Path: hub.EmbeddedDir(home), Type: "f32"}
	if fi, err := os.Stat(filepath.Join(emb.Path, "model.bin")); err == nil {
		emb.Size = fi.Size()
	} else {
		emb.Note = "fetched on first use"
	}
	out = append(out, emb)

	for _, r := range Recipes() {
		e := Entry{Name: r.Name, Source: SourceRecipe, Path: filepath.Join(hub.ModelsDir(home), strings.ToLower(r.Name)), Type: "f32"}
		if fi, err := os.Stat(filepath.Join(e.Path, "model.safetensors")); err == nil {
			e.Size = fi.Size()
		} else {
			e.Note = "built on first use: " + r.Description
		}
		out = append(out, e)
	}

	hfs, err := pulledHF(home)
	if err != nil {
		return nil, err
	}
	out = append(out, hfs...)

	oms, err := hub.ListOllama(ollamaDir)
	if err != nil {
		return nil, fmt.Errorf("ollama store: %w", err)
	}
	for _, m := range oms {
		e := Entry{Name: OllamaPrefix + m.Ref.Short(), Source: SourceOllama, Path: m.Blob, Size: m.Size}
		e.Type, err = ggufTypes(m.Blob)
		if err != nil {
			e.Type, e.Note = "?", err.Error()
		}
		if m.Projector {
			e.Note = strings.TrimPrefix(e.Note+"; vision projector not used", "; ")
		}
		out = append(out, e)
	}
	return out, nil
}

// pulledHF lists the revisions in the Hugging Face cache:
// models/hf/ORG/NAME/refs/REV.
func pulledHF(home string) ([]Entry, error) {
	root := filepath.Join(hub.ModelsDir(home), "hf")
	var out []Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if d.IsDir() || len(parts) < 4 || parts[2] != "refs" {
			return nil
		}
		rev := strings.Join(parts[3:], "/")
		name := parts[0] + "/" + parts[1]
		if rev != "main" {
			name += "@" + rev
		}
		dir, err := hub.Lookup(name, home)
		if err != nil {
			return nil // an interrupted pull: not openable
		}
		e := Entry{Name: name, Source: SourceHF, Path: dir, Type: hfDType(dir)}
		e.Size = dirWeightBytes(dir)
		out = append(out, e)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// hfDType is config.json's torch_dtype ("?" when absent).
func hfDType(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "?"
	}
	var c struct {
		TorchDType string `json:"torch_dtype"`
		DType      string `json:"dtype"`
	}
	if json.Unmarshal(b, &c) != nil {
		return "?"
	}
	switch {
	case c.TorchDType != "":
		return shortDType(c.TorchDType)
	case c.DType != "":
		return shortDType(c.DType)
	}
	return "?"
}

func shortDType(s string) string {
	switch s {
	case "bfloat16":
		return "bf16"
	case "float16":
		return "f16"
	case "float32":
		return "f32"
	}
	return s
}

// dirWeightBytes sums the sizes of a directory's weight files.
func dirWeightBytes(dir string) int64 {
	var n int64
	for _, pat := range []string{"*.safetensors", "*.gguf", "*.bin"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// ggufTypes names a GGUF file's tensor types, the largest share of bytes
// first, joined by "+".
func ggufTypes(path string) (string, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return TensorTypes(f.TensorInfos()), nil
}

// TensorTypes names the types of a GGUF file's tensors, the largest share
// of bytes first, joined by "+" ("Q4_K+Q6_K+F32").
func TensorTypes(ts []gguf.TensorInfo) string {
	bytes := map[string]int64{}
	for _, t := range ts {
		bytes[t.Type.String()] += t.Size
	}
	names := make([]string, 0, len(bytes))
	for k := range bytes {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if bytes[names[i]] != bytes[names[j]] {
			return bytes[names[i]] > bytes[names[j]]
		}
		return names[i] < names[j]
	})
	return strings.Join(names, "+")
}
