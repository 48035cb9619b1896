package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newTokenizeCmd() *cobra.Command {
	var noBOS, pieces bool
	c := &cobra.Command{
		Use:   "tokenize TEXT",
		Short: "Print the token ids of a text (with BOS)",
		Long: `Tokenize prints the ids of TEXT as the model's tokenizer encodes it, with the
BOS token first (unless --no-bos); TEXT - reads standard input. Special-token text such as <s> is parsed as
the special token. --json prints {"ids": [...]}; --pieces prints one token per
line with its text.`,
		Example: `  limbic tokenize "Once upon a time"
  limbic tokenize --json "Hello world"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadTextModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			text, err := textArg("TEXT", args[0])
			if err != nil {
				return err
			}
			ids := m.Tok.Encode(text, !noBOS)
			switch {
			case g.jsonOut:
				type piece struct {
					ID   int    `json:"id"`
					Text string `json:"text"`
				}
				out := struct {
					IDs    []int   `json:"ids"`
					Pieces []piece `json:"pieces,omitempty"`
				}{IDs: ids}
				if pieces {
					for _, id := range ids {
						out.Pieces = append(out.Pieces, piece{id, m.Tok.Token(id)})
					}
				}
				return printJSON(out)
			case pieces:
				for _, id := range ids {
					fmt.Printf("%d\t%q\n", id, m.Tok.Token(id))
				}
			default:
				s := make([]string, len(ids))
				for i, id := range ids {
					s[i] = fmt.Sprint(id)
				}
				fmt.Println(strings.Join(s, " "))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noBOS, "no-bos", false, "do not prepend the BOS token")
	c.Flags().BoolVar(&pieces, "pieces", false, "show each token's text")
	addJSON(c)
	return c
}
