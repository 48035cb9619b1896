package extract

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckpointRoundTrip saves a state through the shared atomic writer and
// reads it back; the directory must hold the checkpoint alone, private (0600).
func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.gob")
	in := &state{Version: checkpointVersion, Done: map[string]bool{"a": true}, NeutralTexts: 3}
	if err := saveState(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.NeutralTexts, 3; got != want {
		t.Errorf("NeutralTexts = %d, want %d", got, want)
	}
	if !out.Done["a"] {
		t.Errorf("Done = %v, want a marked done", out.Done)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(ents), 1; got != want {
		t.Fatalf("directory holds %d entries, want %d", got, want)
	}
	fi, err := ents[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("checkpoint mode %v, want %v", got, want)
	}
}
