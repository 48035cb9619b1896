package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// WeightFiles returns the files that hold the model's weights.
func (m *Model) WeightFiles() []string {
	if len(m.files) > 0 {
		return slices.Clone(m.files)
	}
	return []string{m.Path}
}

var hashMu sync.Mutex

// WeightsHash identifies the weights: "sha256:" and the hex SHA-256 of the
// weights file, or for several files (sharded checkpoints) of the
// concatenated per-file digests in name order. Digests are cached under
// $LIMBIC_HOME/hashes keyed by path, size and modification time, so only the
// first call reads the files.
func (m *Model) WeightsHash() (string, error) {
	m.hashOnce.Do(func() {
		files := m.WeightFiles()
		slices.Sort(files)
		var digests []string
		for _, f := range files {
			d, err := fileSHA256(f)
			if err != nil {
				m.hashErr = err
				return
			}
			digests = append(digests, d)
		}
		if len(digests) == 1 {
			m.hash = "sha256:" + digests[0]
			return
		}
		h := sha256.New()
		for _, d := range digests {
			io.WriteString(h, d)
		}
		m.hash = "sha256:" + hex.EncodeToString(h.Sum(nil))
	})
	return m.hash, m.hashErr
}

type hashStamp struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
}

func fileSHA256(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	key := sha256.Sum256([]byte(abs))
	stampPath := filepath.Join(hub.Home(), "hashes", hex.EncodeToString(key[:16])+".json")
	hashMu.Lock()
	defer hashMu.Unlock()
	if b, err := os.ReadFile(stampPath); err == nil {
		var s hashStamp
		if json.Unmarshal(b, &s) == nil && s.Path == abs && s.Size == st.Size() && s.ModTime == st.ModTime().UnixNano() && len(s.SHA256) == 64 {
			return s.SHA256, nil
		}
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", abs, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// The stamp is a cache: failing to write it is not an error.
	if b, err := json.Marshal(hashStamp{Path: abs, Size: st.Size(), ModTime: st.ModTime().UnixNano(), SHA256: sum}); err == nil {
		if os.MkdirAll(filepath.Dir(stampPath), 0o755) == nil {
			_ = atomicfile.WriteBytes(stampPath, 0o644, b)
		}
	}
	return sum, nil
}
