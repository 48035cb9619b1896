package curate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/shard"
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
	s.lines = nil
	if s.shard.Count > 1 {
		if err := s.shard.Validate(); err != nil {
			return st, false, err
		}
		n, err := countLines(in)
		if err != nil {
			return st, false, fmt.Errorf("%s: %w", inPath, err)
		}
		if _, err := in.Seek(0, io.SeekStart); err != nil {
			return st, false, err
		}
		lo, hi := s.shard.Range(n)
		s.lines = &[2]int{lo + 1, hi + 1}
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

// countLines counts r's lines as Stream numbers them (a last line without
// a newline counts).
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 1<<16)
	n, last := 0, byte('\n')
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += bytes.Count(buf[:k], []byte{'\n'})
			last = buf[k-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

// ShardPath is where shard sh of a scored corpus destined for outPath is
// written: OUT.shard-I-of-N.jsonl beside it.
func ShardPath(outPath string, sh shard.Shard) string {
	base := strings.TrimSuffix(outPath, ".jsonl")
	return fmt.Sprintf("%s.shard-%d-of-%d.jsonl", base, sh.Index, sh.Count)
}

// MergeShards concatenates the count shards of outPath (ShardPath) in
// shard order into outPath, atomically: the one-process output byte for
// byte. It refuses when a shard is missing or unfinished (naming the
// indexes) and when shards were scored with different packs, layers or
// kinds (naming them).
func MergeShards(outPath string, count int) error {
	if count < 1 {
		return fmt.Errorf("curate: merge of %d shards", count)
	}
	var missing []string
	var first *Scores
	firstAt := ""
	paths := make([]string, count)
	for i := range paths {
		paths[i] = ShardPath(outPath, shard.Shard{Index: i, Count: count})
		b, err := os.ReadFile(paths[i])
		if err != nil {
			missing = append(missing, fmt.Sprint(i))
			continue
		}
		line, _, _ := bytes.Cut(b, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue // a shard with no documents
		}
		var l scored
		if err := json.Unmarshal(line, &l); err != nil || l.Limbic == nil {
			return fmt.Errorf("%s: its first line is not a scored document (%v)", paths[i], err)
		}
		if first == nil {
			first, firstAt = l.Limbic, paths[i]
		} else if l.Limbic.Pack != first.Pack || l.Limbic.Layer != first.Layer || l.Limbic.Kind != first.Kind {
			return fmt.Errorf("curate: %s was scored with pack %s, layer %d, %s vectors, but %s with pack %s, layer %d, %s",
				filepath.Base(paths[i]), l.Limbic.Pack, l.Limbic.Layer, l.Limbic.Kind, filepath.Base(firstAt), first.Pack, first.Layer, first.Kind)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("curate: shards %s of %d are missing or unfinished (shard I is written to %s with I in place of 0 when it completes)", strings.Join(missing, ", "), count, filepath.Base(ShardPath(outPath, shard.Shard{Index: 0, Count: count})))
	}
	return atomicfile.WriteFile(outPath, 0o644, func(w io.Writer) error {
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
}
