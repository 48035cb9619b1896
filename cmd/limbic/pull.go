package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hub"
)

func newPullCmd() *cobra.Command {
	var o hub.PullOptions
	c := &cobra.Command{
		Use:   "pull ORG/NAME[@REV]",
		Short: "Download a model from the Hugging Face hub into the cache",
		Long: `Pull downloads a model repository from the Hugging Face hub (config, tokenizer
files and safetensors weights by default) into $LIMBIC_HOME/models/hf, checks
each file against the hub's SHA-256 (LFS) or git hash, and resumes
interrupted downloads. Afterwards --model ORG/NAME[@REV] finds it offline.
HF_ENDPOINT sets another hub (a mirror); HF_TOKEN authenticates (gated and
private models).`,
		Example: `  limbic pull HuggingFaceTB/SmolLM2-135M-Instruct
  limbic --model HuggingFaceTB/SmolLM2-135M-Instruct generate -p "Hi"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var bar *progressbar.ProgressBar
			if !g.quiet {
				o.Progress = func(p hub.PullProgress) {
					if bar == nil && p.Total > 0 {
						bar = progressbar.DefaultBytes(p.Total, "pull "+args[0])
					}
					if bar != nil {
						bar.Describe(fmt.Sprintf("pull %s", p.File))
						bar.Set64(p.Done)
					}
				}
			}
			o.OnRetry = func(e hub.RetryEvent) {
				if bar != nil {
					bar.Clear()
				}
				fmt.Fprintf(os.Stderr, "retrying in %v (%d of %d): %v\n", e.Wait.Round(100*time.Millisecond), e.Attempt, e.Retries, e.Err)
			}
			dir, err := hub.Pull(cmd.Context(), args[0], o)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]string{"repo": args[0], "dir": dir})
			}
			fmt.Println(dir)
			return nil
		},
	}
	c.Flags().StringSliceVar(&o.Include, "include", nil, "file globs to download (default: config, tokenizer and safetensors files)")
	c.Flags().StringSliceVar(&o.Exclude, "exclude", nil, "file globs to skip")
	c.Flags().BoolVar(&o.Verify, "verify", false, "re-check files already present")
	addJSON(c)
	return c
}
