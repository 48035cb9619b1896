package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// Home returns limbic's cache directory: $LIMBIC_HOME when set, else
// os.UserCacheDir()/limbic (os.TempDir()/limbic when there is no user cache
// directory).
func Home() string {
	if h := os.Getenv("LIMBIC_HOME"); h != "" {
		return h
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "limbic")
}

// ModelsDir returns the directory holding all models: Home()/models, or
// home/models when home is not empty.
func ModelsDir(home string) string {
	if home == "" {
		home = Home()
	}
	return filepath.Join(home, "models")
}

// createTemp creates a temporary file next to final (same directory, so that
// the final rename is atomic).
func createTemp(final string) (*os.File, error) {
	return os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp-*")
}

// installTemp syncs and closes f, then renames it to final and syncs the
// directory. On error f is removed.
func installTemp(f *os.File, final string) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	atomicfile.SyncDir(filepath.Dir(final))
	return nil
}

// stamp records that a file with a given size and modification time had a
// given SHA-256, so that it need not be hashed again.
type stamp struct {
	sum   string
	size  int64
	mtime int64 // UnixNano
}

func (s stamp) String() string {
	return fmt.Sprintf("%s %d %d\n", s.sum, s.size, s.mtime)
}

func stampPath(path string) string { return path + ".sha256" }

func readStamp(path string) (stamp, bool) {
	b, err := os.ReadFile(stampPath(path))
	if err != nil {
		return stamp{}, false
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return stamp{}, false
	}
	size, err1 := strconv.ParseInt(f[1], 10, 64)
	mtime, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return stamp{}, false
	}
	return stamp{f[0], size, mtime}, true
}

// verifyFile reports whether the file at path has SHA-256 want. A stamp
// matching the file's size and mtime answers without hashing; otherwise the
// file is hashed and, when it matches, a stamp is written. A missing file is
// (false, nil).
func verifyFile(path, want string) (bool, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if s, ok := readStamp(path); ok && s.size == fi.Size() && s.mtime == fi.ModTime().UnixNano() {
		return s.sum == want, nil
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return false, err
	}
	if sum != want {
		return false, nil
	}
	return true, writeStamp(path, fi, sum)
}

func writeStamp(path string, fi os.FileInfo, sum string) error {
	return atomicfile.WriteBytes(stampPath(path), 0o644, []byte(stamp{sum, fi.Size(), fi.ModTime().UnixNano()}.String()))
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lock takes the exclusive lock file path, waiting for other processes until
// ctx is done. The returned function releases it.
func lock(ctx context.Context, path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return func() { unlock(f); f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another limbic process (lock %s): %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
