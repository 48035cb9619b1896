package model

import "fmt"

// loadGGUF loads a GGUF file. (Not yet: GGUF support comes with the
// architecture families.)
func loadGGUF(path string, o LoadOptions) (*Model, error) {
	return nil, fmt.Errorf("%s: GGUF loading is not available yet", path)
}
