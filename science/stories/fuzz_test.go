package stories

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzStore feeds arbitrary bytes to the story reader and the store: neither
// may panic; when OpenStore accepts a file, the stories it keeps stay
// readable and appending works.
func FuzzStore(f *testing.F) {
	good := `{"id":"a","kind":"emotion","emotion":"sad","topic":"t","index":0,"text":"x","generator":"g","seed":1}`
	f.Add([]byte(good + "\n"))
	f.Add([]byte(good + "\n" + good[:30]))
	f.Add([]byte("\n\n" + good))
	f.Add([]byte("{}\n" + good + "\n"))
	f.Add([]byte(`{"id":"b","kind":"neutral","topic":"t","index":-1}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "s.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var n int
		readErr := Read(path, func(*Story) error { n++; return nil })
		s, err := OpenStore(path)
		if err != nil {
			if readErr == nil {
				t.Fatalf("Read accepted what OpenStore rejected: %v", err)
			}
			return
		}
		kept := s.Len()
		if err := s.Append([]Story{mkStory(12345)}); err != nil && !s.Has(mkStory(12345).ID) {
			t.Fatalf("append: %v", err)
		}
		s.Close()
		after, _ := os.ReadFile(path)
		if !bytes.HasSuffix(after, []byte("\n")) {
			t.Fatalf("file does not end in a newline after append")
		}
		var m int
		if err := Read(path, func(*Story) error { m++; return nil }); err != nil {
			t.Fatalf("reread after repair: %v", err)
		}
		if readErr == nil && n < kept {
			t.Fatalf("Read saw %d stories, store kept %d", n, kept)
		}
		if m < kept+1 {
			t.Fatalf("reread %d stories, want at least %d", m, kept+1)
		}
	})
}
