package behave

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Rollout is one graded reply, a line of the rollouts file, keyed by
// (Cell, Index).
type Rollout struct {
	Cell  string `json:"cell"` // steering spec, or "baseline"
	Index int    `json:"index"`
	Seed  uint64 `json:"seed"`
	// Vec is a digest of the added vectors ("" for the baseline), so a
	// resumed sweep never mixes rollouts steered by another pack.
	Vec    string `json:"vec,omitempty"`
	Reply  string `json:"reply"`
	Label  string `json:"label"`
	Tokens int    `json:"tokens"`
	Stop   string `json:"stop"`
}

// header is the first line of a rollouts file: the settings every rollout
// in it was generated with.
type header struct {
	Scenario    string  `json:"scenario"`
	Model       string  `json:"model"`
	Kind        string  `json:"kind"`
	Prompt      string  `json:"prompt"` // digest of the prompt ids
	Temperature float64 `json:"temperature"`
	TopP        float64 `json:"top_p"`
	TopK        int     `json:"top_k"`
	MaxTokens   int     `json:"max_tokens"`
	Seed        uint64  `json:"seed"`
}

// rolloutsFile appends rollouts to a JSONL file.
type rolloutsFile struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	pending int
}

// syncEvery is how many appended rollouts are written and synced together.
const syncEvery = 16

// openRollouts opens (or creates) the rollouts file at path, checks that
// its header matches hdr and returns the rollouts in it by cell key and
// index. A torn last line is cut off.
func openRollouts(path string, hdr header) (*rolloutsFile, map[string]map[int]Rollout, error) {
	have := map[string]map[int]Rollout{}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// A new file: write the header through a temporary file, so that
		// the file never exists without one.
		line, err := json.Marshal(map[string]header{"header": hdr})
		if err != nil {
			return nil, nil, err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, append(line, '\n'), 0o644); err != nil {
			return nil, nil, err
		}
		if err := syncPath(tmp); err != nil {
			return nil, nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, nil, err
		}
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, nil, err
		}
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, nil, err
		}
		return &rolloutsFile{path: path, f: f, w: bufio.NewWriter(f)}, have, nil
	}
	if err != nil {
		return nil, nil, err
	}
	good, err := readRollouts(path, f, hdr, have)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	// Drop a torn tail and append after the last complete line.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &rolloutsFile{path: path, f: f, w: bufio.NewWriter(f)}, have, nil
}

// readRollouts reads the file's lines into have and returns the offset
// after the last complete line.
func readRollouts(path string, f *os.File, hdr header, have map[string]map[int]Rollout) (int64, error) {
	r := bufio.NewReader(f)
	var off int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			if n == 1 && len(line) == 0 {
				return 0, fmt.Errorf("%s: empty rollouts file (no header line); delete it", path)
			}
			if n == 1 {
				return 0, fmt.Errorf("%s: torn header line; delete the file", path)
			}
			return off, nil // a torn last line (or none) is dropped
		}
		if err != nil {
			return 0, err
		}
		if n == 1 {
			var h struct {
				Header *header `json:"header"`
			}
			if err := json.Unmarshal(line, &h); err != nil || h.Header == nil {
				return 0, fmt.Errorf("%s:1: not a rollouts file header", path)
			}
			if diff := headerDiff(*h.Header, hdr); diff != "" {
				return 0, fmt.Errorf("%s: made with other settings (%s): delete it or use another output directory", path, diff)
			}
		} else if len(bytes.TrimSpace(line)) > 0 {
			var ro Rollout
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ro); err != nil || ro.Cell == "" || ro.Index < 0 {
				return 0, fmt.Errorf("%s:%d: bad rollout line", path, n)
			}
			if have[ro.Cell] == nil {
				have[ro.Cell] = map[int]Rollout{}
			}
			if _, dup := have[ro.Cell][ro.Index]; !dup {
				have[ro.Cell][ro.Index] = ro
			}
		}
		off += int64(len(line))
	}
}

// headerDiff names the fields in which a and b differ.
func headerDiff(a, b header) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var d []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name := strings.Split(va.Type().Field(i).Tag.Get("json"), ",")[0]
			d = append(d, fmt.Sprintf("%s %v, now %v", name, va.Field(i).Interface(), vb.Field(i).Interface()))
		}
	}
	return strings.Join(d, "; ")
}

// append writes one rollout line; every syncEvery lines are flushed and
// synced to disk.
func (rf *rolloutsFile) append(r Rollout) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := rf.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%s: %w", rf.path, err)
	}
	rf.pending++
	if rf.pending >= syncEvery {
		return rf.sync()
	}
	return nil
}

// sync flushes and syncs the appended lines.
func (rf *rolloutsFile) sync() error {
	if err := rf.w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", rf.path, err)
	}
	rf.pending = 0
	if err := rf.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", rf.path, err)
	}
	return nil
}

func (rf *rolloutsFile) close() error {
	err := rf.sync()
	if cerr := rf.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
