package extract

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/vecpack"
)

const checkpointVersion = 1

// state is what a checkpoint holds: everything accumulated so far and the
// IDs of the texts already read.
type state struct {
	Version      int
	Fingerprint  string
	Acc          *Accumulator
	Neutral      map[int]*Moments // by layer index
	HeldOut      *vecpack.HeldOut
	Done         map[string]bool
	NeutralTexts int
	Stats        Stats
	// Sharded runs only: the run's identity, the shard, and whether the
	// shard read all its texts.
	Ident    Identity
	Shard    shard.Shard
	Complete bool
	Denoise  Denoise           // the run's denoising, for MergeShards
	Params   map[string]string // the run's pack parameters, for MergeShards
}

// saveState writes s to path atomically: a temporary file in the same
// directory, fsynced, renamed over path, then the directory fsynced.
func saveState(path string, s *state) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return fmt.Errorf("extract: encoding checkpoint: %w", err)
	}
	return atomicfile.WriteBytes(path, 0o600, buf.Bytes())
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s state
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return nil, fmt.Errorf("extract: checkpoint %s is unreadable (%v); delete it to start over", path, err)
	}
	if s.Version != checkpointVersion {
		return nil, fmt.Errorf("extract: checkpoint %s has version %d, want %d; delete it to start over", path, s.Version, checkpointVersion)
	}
	return &s, nil
}
