package stories

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxLineBytes bounds one JSON line (a story with its prompt).
const MaxLineBytes = 4 << 20

// ErrEmpty is returned (wrapped) by ReadAll for a file without stories.
var ErrEmpty = errors.New("no stories")

// Store is an append-only JSONL file of stories. It is not safe for
// concurrent use; an advisory lock keeps a second process from opening the
// same file for writing.
type Store struct {
	path string
	f    *os.File
	ids  map[string]bool
	keys map[Key]bool
	// Repaired is the number of bytes of a torn last line removed on open.
	Repaired int
	// Duplicates counts lines whose ID repeats an earlier line (kept in the
	// file, ignored by Has/Len).
	Duplicates int
}

// OpenStore opens or creates the story file at path for appending. An
// existing file is read; a torn or unparsable last line (what a crash during
// a write leaves) is truncated away; a bad line before the last is an error
// naming the line, since that is corruption rather than a torn write.
func OpenStore(path string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Store{path: path, f: f, ids: map[string]bool{}, keys: map[Key]bool{}}
	good, noNewline, err := scan(f, func(st *Story) error {
		if s.ids[st.ID] {
			s.Duplicates++
			return nil
		}
		s.ids[st.ID] = true
		s.keys[st.Key()] = true
		return nil
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	if end > good {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: truncating a torn last line: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		s.Repaired = int(end - good)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if noNewline {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return nil, err
		}
	}
	return s, nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Has reports whether a story with this ID is stored.
func (s *Store) Has(id string) bool { return s.ids[id] }

// HasKey reports whether a story with this key is stored.
func (s *Store) HasKey(k Key) bool { return s.keys[k] }

// Len returns the number of distinct stories stored.
func (s *Store) Len() int { return len(s.ids) }

// Append writes a batch of stories in one write and fsyncs. Every story must
// pass Check and have an ID not yet stored (nor repeated in the batch);
// otherwise nothing is written.
func (s *Store) Append(batch []Story) error {
	if s.f == nil {
		return errors.New("stories: append to a closed store")
	}
	var buf bytes.Buffer
	inBatch := map[string]bool{}
	for i := range batch {
		st := &batch[i]
		if err := st.Check(); err != nil {
			return err
		}
		if s.ids[st.ID] || inBatch[st.ID] {
			return fmt.Errorf("stories: story %s is already stored", st.ID)
		}
		inBatch[st.ID] = true
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	for i := range batch {
		s.ids[batch[i].ID] = true
		s.keys[batch[i].Key()] = true
	}
	return nil
}

// Close closes the file.
func (s *Store) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// scan parses the stream line by line from the current offset, calling fn
// for every good story, and returns the byte offset just past the last good
// line, and whether that line lacks its final newline (a valid last story
// written without one). An invalid last line (a torn write) ends the scan
// without error; an invalid line followed by more lines is an error. Blank
// lines are skipped.
func scan(r io.Reader, fn func(*Story) error) (good int64, noNewline bool, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var off int64
	var pendingErr error // a bad line; an error only if a non-blank line follows
	for lineNo := 1; ; lineNo++ {
		line, rerr := readLine(br)
		if rerr != nil && rerr != io.EOF {
			return good, false, rerr
		}
		if len(line) == 0 {
			return good, noNewline, nil
		}
		off += int64(len(line))
		complete := line[len(line)-1] == '\n'
		body := bytes.TrimSpace(line)
		switch {
		case len(body) == 0:
			if complete && pendingErr == nil {
				good = off
			}
		case pendingErr != nil:
			return good, false, pendingErr
		case len(line) > MaxLineBytes:
			pendingErr = fmt.Errorf("line %d: longer than %d bytes", lineNo, MaxLineBytes)
		default:
			var st Story
			if jerr := json.Unmarshal(body, &st); jerr != nil {
				pendingErr = fmt.Errorf("line %d: %w", lineNo, jerr)
			} else if cerr := st.Check(); cerr != nil {
				pendingErr = fmt.Errorf("line %d: %w", lineNo, cerr)
			} else {
				if err := fn(&st); err != nil {
					return good, false, err
				}
				good, noNewline = off, !complete
			}
		}
		if rerr == io.EOF {
			return good, noNewline, nil
		}
	}
}

// readLine reads up to and including '\n', or to EOF. Lines longer than
// MaxLineBytes are read whole but flagged by their length.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		frag, err := br.ReadSlice('\n')
		out = append(out, frag...)
		if err == bufio.ErrBufferFull {
			if len(out) > MaxLineBytes+1 {
				// Drain the rest of the line without keeping it.
				for err == bufio.ErrBufferFull {
					_, err = br.ReadSlice('\n')
				}
				if err != nil && err != io.EOF {
					return nil, err
				}
				out = out[:MaxLineBytes+1]
				out[len(out)-1] = '\n'
				return out, err
			}
			continue
		}
		return out, err
	}
}

// Read streams the stories of a file to fn in file order. A torn last line is
// skipped (the file is not modified); a bad line before the last is an error.
// Repeated IDs are passed on; callers that care deduplicate.
func Read(path string, fn func(*Story) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, err := scan(f, fn); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadAll reads every story of a file, dropping repeated IDs (the first
// wins). A file without stories is an error wrapping ErrEmpty.
func ReadAll(path string) ([]Story, error) {
	var out []Story
	seen := map[string]bool{}
	err := Read(path, func(s *Story) error {
		if !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, *s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrEmpty)
	}
	return out, nil
}
