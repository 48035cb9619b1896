package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/readout"
)

func newReadCmd() *cobra.Command {
	var (
		vf       vectorFlags
		file     string
		chatFile string
		format   string
		out      string
		emotions []string
		layer    string
		color    string
		topK     int
		smooth   int
		metric   string
	)
	c := &cobra.Command{
		Use:   "read [TEXT]",
		Short: "Show which emotions are active at each token of a text",
		Long: `Read runs a text (an argument, --file, or a chat transcript with --chat: a JSON
list of {"role", "content"} messages rendered with the model's chat template;
"-" for any of them reads standard input) through the model and reads the
emotion vectors out of the residual stream at one layer (--layer best, the
default, is the pack's best layer; negative layers count from the end),
token by token.

Scores: the projection h·v̂ on each unit emotion vector (--metric proj), its
cosine (cos), or a z-score against the pack's neutral baseline (z, the
default). --smooth W averages each score over W neighbouring tokens.

Formats: ansi (the text coloured per emotion, red positive, blue negative,
scaled by the 99th-percentile magnitude; on a pipe, a file or with NO_COLOR
set, each token is followed by its scaled value in brackets instead, unless
--color always), json (every score), html (a
self-contained heatmap page with an emotions × tokens grid of every emotion,
or of --emotions, and a numeric colour bar). Without --emotions, the views show the top-k
emotions.`,
		Example: `  limbic read "The storm was coming and Tom could not find his mother."
  limbic read --file story.txt --emotions scared,calm --smooth 3
  cat story.txt | limbic read - --layer -2
  limbic read --chat convo.json --format html --out convo.html
  limbic read "Lily opened the box." --steer happy=0.5`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, msgs, err := readInput(args, file, chatFile)
			if err != nil {
				return err
			}
			met, err := readout.ParseMetric(metric)
			if err != nil && metric != "" {
				return err
			}
			li, err := readout.ParseLayer(layer)
			if err != nil {
				return fmt.Errorf("--layer: %w", err)
			}
			if err := atLeast("top-k", topK, 1); err != nil {
				return err
			}
			if err := atLeast("smooth", smooth, 1); err != nil {
				return err
			}
			colored, err := useColor(color)
			if err != nil {
				return err
			}
			switch format {
			case "ansi", "json", "html":
			default:
				return fmt.Errorf("--format %q: want ansi, json or html", format)
			}
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			pack, _, err := vf.loadPack(m, true)
			if err != nil {
				return err
			}
			kind, err := vf.vecKind()
			if err != nil {
				return err
			}
			var ids []int
			if msgs != nil {
				if ids, err = chat.Encode(m.Tok, msgs, false); err != nil {
					return err
				}
			} else {
				ids = m.Tok.Encode(text, m.Tok.DefaultAddBOS())
			}
			if len(ids) == 0 {
				return fmt.Errorf("the text is empty")
			}
			if len(ids) > m.MaxSeq {
				return fmt.Errorf("the text has %d tokens, more than the context length of %d", len(ids), m.MaxSeq)
			}
			if err := checkLayer(m, li, layer); err != nil {
				return err
			}
			r, err := readout.NewReader(pack, li, nil, kind)
			if err != nil {
				return fmt.Errorf("--layer %s: %w", layer, err)
			}
			for _, e := range emotions {
				if _, err := pack.EmotionIndex(e); err != nil {
					return fmt.Errorf("--emotions: %w", err)
				}
			}
			hs, _, err := vf.hooks(m, pack, len(ids))
			if err != nil {
				return err
			}
			tr, err := readout.Read(m.Transformer, m.Tok, ids, r, hs, readout.TraceOptions{Metric: met, Smooth: smooth, TopK: topK})
			if err != nil {
				return err
			}
			tr.Model = m.Name
			show := emotions
			if len(show) == 0 {
				show = tr.TopEmotions(topK)
			}
			var buf bytes.Buffer
			switch format {
			case "json":
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				err = enc.Encode(tr)
			case "html":
				title := "limbic read: " + m.Name
				err = readout.WriteHTML(&buf, tr, show[0], title, emotions...)
			default:
				if colored && (out == "" || color == "always") {
					err = readout.WriteANSI(&buf, tr, show)
				} else {
					err = readout.WritePlain(&buf, tr, show)
				}
			}
			if err != nil {
				return err
			}
			if out == "" {
				if format == "html" {
					out = "read.html"
				} else {
					_, err = os.Stdout.Write(buf.Bytes())
					return err
				}
			}
			if err := atomicfile.WriteFile(out, 0o644, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
				return err
			}
			if !g.quiet {
				fmt.Fprintf(os.Stderr, "wrote %s\n", out)
			}
			return nil
		},
	}
	f := c.Flags()
	vf.add(c, true)
	f.StringVar(&file, "file", "", "read the text from a file (- for standard input)")
	f.StringVar(&chatFile, "chat", "", "read a chat transcript: JSON list of {role, content} (- for standard input)")
	f.StringVar(&color, "color", "auto", "colour the ansi format: auto (on a terminal without NO_COLOR), always or never")
	f.StringVar(&format, "format", "ansi", "output: ansi, json or html")
	f.StringVarP(&out, "out", "o", "", "write to a file (html default: read.html)")
	f.StringSliceVar(&emotions, "emotions", nil, "emotions to show (default: the top-k)")
	f.StringVar(&layer, "layer", "best", "layer to read: best (the pack's) or a number, negative from the end")
	f.IntVarP(&topK, "top-k", "k", 3, "emotions per token, and emotions shown without --emotions")
	f.IntVar(&smooth, "smooth", 1, "average scores over this many neighbouring tokens")
	f.StringVar(&metric, "metric", "", "score: z (default with a baseline), proj or cos")
	return c
}

// readInput returns the text or chat messages to read.
func readInput(args []string, file, chatFile string) (string, []chat.Message, error) {
	n := len(args)
	if file != "" {
		n++
	}
	if chatFile != "" {
		n++
	}
	if n != 1 {
		return "", nil, fmt.Errorf("give exactly one of TEXT, --file and --chat")
	}
	switch {
	case file != "":
		b, err := readFileArg("--file", file)
		if err != nil {
			return "", nil, err
		}
		return string(b), nil, nil
	case chatFile != "":
		b, err := readFileArg("--chat", chatFile)
		if err != nil {
			return "", nil, err
		}
		var msgs []chat.Message
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&msgs); err != nil {
			return "", nil, fmt.Errorf("%s: want a JSON list of {\"role\", \"content\"} messages: %w", chatFile, err)
		}
		if len(msgs) == 0 {
			return "", nil, fmt.Errorf("%s: no messages", chatFile)
		}
		for i, m := range msgs {
			if strings.TrimSpace(m.Role) == "" {
				return "", nil, fmt.Errorf("%s: message %d has no role", chatFile, i)
			}
		}
		return "", msgs, nil
	}
	text, err := textArg("TEXT", args[0])
	return text, nil, err
}
