package curate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// PartialSuffix is appended to an output's name while it is being written.
const PartialSuffix = ".partial"

// ScoreFile scores the corpus at inPath into outPath, resumably: the
// output is written to outPath+".partial" and renamed when complete. A
// partial output left by an interrupted run is cut after its last complete
// line and continued from the input line after the one that line scored
// (it must have been scored with the same pack, layer and kind). An
// existing outPath is left alone unless force (Stats.Docs is then 0 and
// reused true). progress as in Stream, with the input's size as total.
func (s *Scorer) ScoreFile(ctx context.Context, inPath, outPath string, force bool, progress func(lines int, read, total int64)) (st Stats, reused bool, err error) {
	if !force {
		if _, err := os.Stat(outPath); err == nil {
			return st, true, nil
		}
	}
	in, err := os.Open(inPath)
	if err != nil {
		return st, false, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return st, false, err
	}
	partial := outPath + PartialSuffix
	after, err := s.resumePoint(partial)
	if err != nil {
		return st, false, err
	}
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return st, false, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var pf func(int, int64)
	if progress != nil {
		pf = func(lines int, read int64) { progress(lines, read, fi.Size()) }
	}
	if st, err = s.Stream(ctx, in, inPath, f, after, pf); err != nil {
		return st, false, err
	}
	if err := f.Sync(); err != nil {
		return st, false, err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return st, false, err
	}
	return st, false, os.Rename(partial, outPath)
}

// resumePoint cuts a partial output after its last complete line and
// returns the input line that line scored (0: start from the beginning).
func (s *Scorer) resumePoint(partial string) (int, error) {
	b, err := os.ReadFile(partial)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	if end < len(b) {
		if err := os.Truncate(partial, int64(end)); err != nil {
			return 0, err
		}
	}
	b = bytes.TrimSpace(b[:end])
	if len(b) == 0 {
		return 0, nil
	}
	last := b[bytes.LastIndexByte(b, '\n')+1:]
	var l scored
	if err := json.Unmarshal(last, &l); err != nil || l.Limbic == nil {
		return 0, fmt.Errorf("%s: its last line is not a scored document (%v): remove the file to start over", partial, err)
	}
	sc := l.Limbic
	if sc.Pack != s.pack || sc.Layer != s.r.Layer || sc.Kind != s.kind.String() {
		return 0, fmt.Errorf("%s: scored with pack %s, layer %d, %s vectors; this run uses pack %s, layer %d, %s: remove the file to start over",
			partial, sc.Pack, sc.Layer, sc.Kind, s.pack, s.r.Layer, s.kind)
	}
	return sc.Line, nil
}

// SelectFile runs Select over the scored corpus at inPath and, when outPath
// is set, writes the kept lines there atomically (outPath+".partial", then
// a rename).
func SelectFile(inPath, outPath string, sel Selector) (*Selection, error) {
	in, err := os.Open(inPath)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if outPath == "" {
		return Select(in, inPath, nil, sel)
	}
	partial := outPath + PartialSuffix
	f, err := os.Create(partial)
	if err != nil {
		return nil, err
	}
	res, err := Select(in, inPath, f, sel)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(partial)
		return nil, err
	}
	return res, os.Rename(partial, outPath)
}
