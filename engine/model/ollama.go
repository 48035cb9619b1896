package model

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/limbic-dev/limbic/engine/hub"
)

// OllamaPrefix marks a model reference in ollama's store:
// "ollama:llama3.2", "ollama:llama3.2:1b", "ollama:NAMESPACE/NAME:TAG",
// "ollama:HOST/NAMESPACE/NAME:TAG".
const OllamaPrefix = "ollama:"

// loadOllama loads a model from ollama's store ($OLLAMA_MODELS, else
// ~/.ollama/models), read-only: the manifest names the weights blob, a GGUF
// file, whose digest is checked once (the check is remembered in limbic's
// cache, never in ollama's store). The chat template is the GGUF's own
// (Jinja, as Hugging Face ships it); when the GGUF has none, the template
// layer of the manifest (ollama's Go template syntax) is used.
func loadOllama(ref string, o LoadOptions) (*Model, error) {
	om, err := hub.OpenOllama(ref, "")
	if err != nil {
		return nil, err
	}
	if err := hub.VerifyOllama(om, ""); err != nil {
		return nil, err
	}
	if err := checkGGUFMagic(om.Blob); err != nil {
		return nil, fmt.Errorf("ollama model %s: weights blob %s: %w", om.Ref.Short(), om.Blob, err)
	}
	m, err := loadGGUF(om.Blob, o)
	if err != nil {
		return nil, fmt.Errorf("ollama model %s: %w", om.Ref.Short(), err)
	}
	if m.Tok != nil && m.Tok.ChatTemplate() == "" && om.Template != "" {
		m.Tok.SetChatTemplate(om.Template)
	}
	return m, nil
}

// checkGGUFMagic fails unless the file starts with GGUF's magic.
func checkGGUFMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return fmt.Errorf("not a GGUF file: %w", err)
	}
	if !bytes.Equal(b[:], []byte("GGUF")) {
		return fmt.Errorf("not a GGUF file (starts with %q)", b[:])
	}
	return nil
}
