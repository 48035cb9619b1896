package vecpack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// HashFiles returns the model identity used in ModelInfo.Hash: for one file,
// "sha256:" and the hex SHA-256 of its bytes (the checksum published for
// stories15M's model.bin, for instance); for several (sharded weights), the
// SHA-256 of the lines "BASENAME SHA256\n" sorted by base name, so that the
// order of the paths does not matter.
func HashFiles(paths ...string) (string, error) {
	if len(paths) == 0 {
		return "", errors.New("vecpack: no weight files to hash")
	}
	var lines []string
	var single string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("vecpack: hashing %s: %w", p, err)
		}
		single = hex.EncodeToString(h.Sum(nil))
		lines = append(lines, filepath.Base(p)+" "+single+"\n")
	}
	if len(paths) == 1 {
		return "sha256:" + single, nil
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
