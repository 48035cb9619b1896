package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/engine/model"
)

func newListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "List the models limbic can open here",
		Long: `List shows the models that --model can name on this machine: the embedded
default model, the Hugging Face repositories pulled with 'limbic pull', and the
models in ollama's store ($OLLAMA_MODELS, else ~/.ollama/models), each with its
size and weight types. ollama's store is only read.`,
		Example: `  limbic list
  limbic list --json
  limbic generate -m ollama:llama3.2:1b -p "Hello"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := model.Available("", "")
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(struct {
					Models    []model.Entry `json:"models"`
					OllamaDir string        `json:"ollama_dir"`
				}{es, hub.OllamaDir()})
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSOURCE\tSIZE\tTYPE\tNOTE")
			for _, e := range es {
				size := "-"
				if e.Size > 0 {
					size = humanBytes(e.Size)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Source, size, e.Type, e.Note)
			}
			return w.Flush()
		},
	}
	addJSON(c)
	return c
}
