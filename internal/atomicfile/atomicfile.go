package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes the file at path by calling write with a buffered writer
// on a temporary file in the same directory, then fsyncing it and renaming it
// over path. The new file has permissions perm (not subject to umask).
func WriteFile(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := WriteSynced(f, write); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// WriteBytes is WriteFile for data already in memory.
func WriteBytes(path string, perm os.FileMode, data []byte) error {
	return WriteFile(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteSynced calls write with a buffered writer on f, flushes the buffer and
// fsyncs f. It does not close f.
func WriteSynced(f *os.File, write func(w io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// CreateSynced creates (or truncates) the file at path, fills it with write
// and fsyncs it. It is meant for files inside a temporary directory that is
// later moved into place with ReplaceDir.
func CreateSynced(path string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := WriteSynced(f, write); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir fsyncs a directory so that renames inside it are durable. It is best
// effort: some systems cannot open or sync directories.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// ReplaceDir moves the directory tmp to dst. When dst does not exist it is a
// plain rename. When dst exists it is swapped with tmp (atomically where the
// system can exchange two paths, as Linux does), and the old content is then
// removed. tmp and dst must be on the same file system, normally siblings.
func ReplaceDir(tmp, dst string) error {
	fi, err := os.Lstat(dst)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
		SyncDir(filepath.Dir(dst))
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory", dst)
	}
	if err := exchange(tmp, dst); err == nil {
		// tmp now holds the old content.
		SyncDir(filepath.Dir(dst))
		os.RemoveAll(tmp)
		return nil
	}
	// No atomic exchange: move the old directory aside, then the new one in.
	old, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".old-*")
	if err != nil {
		return err
	}
	os.Remove(old) // only the unique name is needed
	if err := os.Rename(dst, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		if rerr := os.Rename(old, dst); rerr != nil {
			return fmt.Errorf("%w (and restoring the old directory from %s failed: %v)", err, old, rerr)
		}
		return err
	}
	SyncDir(filepath.Dir(dst))
	os.RemoveAll(old)
	return nil
}
