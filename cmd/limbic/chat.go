package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
)

const chatHelp = `Commands:
  /steer EMOTION=STRENGTH[@LAYERS][:SPAN] ...   steer the next replies (replaces the current steering)
  /steer off                                    stop steering
  /readout on|off                               the emotion line under each reply
  /reset                                        forget the conversation
  /save FILE                                    write the conversation as JSON
  /help                                         this text
  /bye                                          leave (as does Ctrl-D)
Start and end a multi-line message with """ on a line of its own.`

// chatSession is the state of `limbic chat`.
type chatSession struct {
	m        *model.Model
	vf       *vectorFlags
	pack     *vecpack.Pack
	reader   *readout.Reader
	metric   readout.Metric
	readout  bool
	system   string
	base     bool // no chat template: continue the text
	msgs     []chat.Message
	text     string // base models: the running text
	max      int
	sampling model.Sampling
	turn     uint64
	out      io.Writer
	ctx      context.Context
}

// chatRecord is what /save writes.
type chatRecord struct {
	Model    string         `json:"model"`
	Messages []chat.Message `json:"messages,omitempty"`
	Text     string         `json:"text,omitempty"` // base models
	Steer    []string       `json:"steer,omitempty"`
	Seed     uint64         `json:"seed"`
}

func newChatCmd() *cobra.Command {
	var (
		vf     vectorFlags
		s      model.Sampling
		seed   int64
		max    int
		system string
		noRead bool
		layer  string
	)
	c := &cobra.Command{
		Use:   "chat",
		Short: "Chat with the model in the terminal, with steering and a live emotion line",
		Long: `Chat talks with the model through its chat template, streaming each reply,
and prints under it a one-line summary of the emotions the pack reads over the
reply (the three largest mean scores: z-scores when the pack has a neutral
baseline, else cosines). A model without a chat template (a base model such as
the embedded stories15M) continues the text instead: each message is appended
to the story and the model writes on.

` + chatHelp,
		Example: `  limbic chat
  limbic chat -m ./SmolLM2-135M-Instruct --system "You are brief."
  limbic chat --steer calm=0.2 --temp 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if max < 1 {
				return fmt.Errorf("-n %d: must be at least 1", max)
			}
			s.Seed = uint64(seed)
			if !cmd.Flags().Changed("seed") && s.Temp > 0 {
				s.Seed = randomSeed()
				fmt.Fprintf(os.Stderr, "seed %d (repeat with --seed %d)\n", s.Seed, s.Seed)
			}
			if err := s.Validate(); err != nil {
				return err
			}
			m, err := loadTextModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			cs := &chatSession{m: m, vf: &vf, max: max, sampling: s, system: system, readout: !noRead, out: os.Stdout, ctx: cmd.Context()}
			cs.base = m.Tok.ChatTemplate() == ""
			if cs.pack, _, err = vf.loadPack(m, false); err != nil {
				return err
			}
			if cs.pack != nil {
				kind, err := vf.vecKind()
				if err != nil {
					return err
				}
				l, err := readout.ParseLayer(layer)
				if err != nil {
					return fmt.Errorf("--layer: %w", err)
				}
				if cs.reader, err = readout.NewReader(cs.pack, l, nil, kind); err != nil {
					return err
				}
				cs.metric = readout.Cosine
				if cs.reader.HasBaseline() {
					cs.metric = readout.ZScore
				}
			} else if cs.readout {
				fmt.Fprintln(os.Stderr, "no vector pack for this model: no emotion line (run `limbic run` or give --vectors)")
				cs.readout = false
			}
			if _, err := steer.ParseAll(vf.steer); err != nil {
				return err
			}
			if cs.base {
				fmt.Fprintf(os.Stderr, "%s has no chat template: it will continue your text instead of chatting.\n", m.Name)
			}
			fmt.Fprintln(os.Stderr, `Type a message, /help for commands, /bye to leave.`)
			return cs.loop(cmd.Context().Done(), os.Stdin)
		},
	}
	f := c.Flags()
	f.IntVarP(&max, "tokens", "n", 256, "most tokens per reply")
	f.Float64Var(&s.Temp, "temp", 0.8, "sampling temperature (0 = greedy)")
	f.Float64Var(&s.TopP, "top-p", 0.95, "nucleus sampling mass (1 = off)")
	f.IntVar(&s.TopK, "top-k", 0, "sample from the K most likely tokens (0 = off)")
	f.Int64Var(&seed, "seed", 0, "random seed; each reply uses seed + its turn number (default: drawn and printed)")
	f.StringVar(&system, "system", "", "system message (chat models)")
	f.BoolVar(&noRead, "no-readout", false, "start with the emotion line off")
	f.StringVar(&layer, "layer", "best", "readout layer: best, or a layer number (negative from the end)")
	vf.add(c, true)
	return c
}

// loop reads messages and commands until /bye, end of input or done.
func (cs *chatSession) loop(done <-chan struct{}, in io.Reader) error {
	br := bufio.NewReader(in)
	for {
		fmt.Fprint(cs.out, ">>> ")
		msg, err := readMessage(br, cs.out)
		if errors.Is(err, io.EOF) && msg == "" {
			fmt.Fprintln(cs.out)
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		select {
		case <-done:
			return nil
		default:
		}
		if strings.TrimSpace(msg) == "" {
			continue
		}
		if strings.HasPrefix(msg, "/") {
			quit, cerr := cs.command(strings.TrimSpace(msg))
			if cerr != nil {
				fmt.Fprintln(cs.out, "error:", cerr)
			}
			if quit {
				return nil
			}
			continue
		}
		if err := cs.reply(msg); err != nil {
			fmt.Fprintln(cs.out, "error:", err)
		}
	}
}

// readMessage reads one line, or the lines between two """ lines.
func readMessage(br *bufio.Reader, out io.Writer) (string, error) {
	line, err := br.ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) != `"""` {
		return line, err
	}
	var lines []string
	for {
		fmt.Fprint(out, "... ")
		l, err := br.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		if strings.TrimSpace(l) == `"""` {
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, l)
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
	}
}

// command runs a /command; quit reports /bye.
func (cs *chatSession) command(line string) (quit bool, err error) {
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/bye", "/exit", "/quit":
		return true, nil
	case "/help", "/?":
		fmt.Fprintln(cs.out, chatHelp)
	case "/reset":
		cs.msgs, cs.text = nil, ""
		fmt.Fprintln(cs.out, "conversation cleared")
	case "/readout":
		switch arg {
		case "on":
			if cs.reader == nil {
				return false, errors.New("no vector pack: give --vectors, or run `limbic run` for this model")
			}
			cs.readout = true
		case "off":
			cs.readout = false
		default:
			return false, fmt.Errorf("/readout %q: want on or off", arg)
		}
	case "/steer":
		if arg == "" || arg == "off" {
			cs.vf.steer = nil
			fmt.Fprintln(cs.out, "steering off")
			return false, nil
		}
		specs := strings.Fields(arg)
		if _, err := steer.ParseAll(specs); err != nil {
			return false, err
		}
		if cs.pack == nil {
			return false, errors.New("/steer needs a vector pack: give --vectors, or run `limbic run` for this model")
		}
		// resolve now, so that an unknown emotion or layer is reported here
		if _, _, err := steerHooksFor(cs.m, cs.vf, cs.pack, specs, 1); err != nil {
			return false, err
		}
		cs.vf.steer = specs
		fmt.Fprintln(cs.out, "steering:", strings.Join(specs, " "))
	case "/save":
		if arg == "" {
			return false, errors.New("/save FILE")
		}
		rec := chatRecord{Model: cs.m.Name, Messages: cs.msgs, Text: cs.text, Steer: cs.vf.steer, Seed: cs.sampling.Seed}
		b, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return false, err
		}
		if err := atomicfile.WriteFile(arg, 0o644, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
			return false, err
		}
		fmt.Fprintln(cs.out, "saved", arg)
	default:
		return false, fmt.Errorf("unknown command %s (/help lists them)", name)
	}
	return false, nil
}

// steerHooksFor builds the steering hooks of specs for a prompt.
func steerHooksFor(m *model.Model, vf *vectorFlags, pack *vecpack.Pack, specs []string, promptLen int) (*hook.Set, []steer.Added, error) {
	v := *vf
	v.steer = specs
	return v.hooks(m, pack, promptLen)
}

// reply generates the model's answer to msg, streaming it.
func (cs *chatSession) reply(msg string) error {
	var ids []int
	var err error
	if cs.base {
		if cs.text != "" && !strings.HasSuffix(cs.text, " ") && !strings.HasSuffix(cs.text, "\n") {
			cs.text += " "
		}
		cs.text += msg
		ids = cs.m.Tok.Encode(cs.text, true)
	} else {
		msgs := cs.msgs
		if cs.system != "" && len(msgs) == 0 {
			msgs = append(msgs, chat.Message{Role: "system", Content: cs.system})
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: msg})
		if ids, err = chat.Encode(cs.m.Tok, msgs, true); err != nil {
			return err
		}
		cs.msgs = msgs
	}
	if len(ids) >= cs.m.MaxSeq {
		return fmt.Errorf("the conversation has %d tokens, the context %d: /reset to start again", len(ids), cs.m.MaxSeq)
	}
	hs, _, err := cs.vf.hooks(cs.m, cs.pack, len(ids))
	if err != nil {
		return err
	}
	// Mean score per emotion over the reply's tokens.
	var sums []float64
	var count int
	if cs.readout && cs.reader != nil {
		if hs == nil {
			hs = &hook.Set{}
		}
		sums = make([]float64, len(cs.reader.Emotions))
		hs.Add(cs.reader.Point(), cs.reader.Hook(func(pos int, s *readout.Scores) {
			if pos < len(ids) {
				return
			}
			vals := s.Cos
			if cs.metric == readout.ZScore {
				vals = s.Z
			}
			for i, v := range vals {
				sums[i] += float64(v)
			}
			count++
		}))
	}
	sp := cs.sampling
	sp.Seed += cs.turn
	cs.turn++
	dec := cs.m.Tok.NewDecoder()
	dec.Skip(ids)
	var text strings.Builder
	max := min(cs.max, cs.m.MaxSeq-len(ids))
	_, err = model.Generate(cs.ctx, cs.m.Transformer, []model.Request{{Prompt: ids, Max: max, Sampling: sp, Stop: cs.m.StopIDs(), Hooks: hs}},
		func(t model.Token) bool {
			if t.Stop {
				return true
			}
			p := dec.Next(t.ID)
			text.WriteString(p)
			fmt.Fprint(cs.out, p)
			return true
		})
	rest := dec.Flush()
	text.WriteString(rest)
	fmt.Fprintln(cs.out, rest)
	if err != nil {
		return err
	}
	if cs.base {
		cs.text += text.String()
	} else {
		cs.msgs = append(cs.msgs, chat.Message{Role: "assistant", Content: strings.TrimSpace(text.String())})
	}
	if sums != nil && count > 0 {
		fmt.Fprintln(cs.out, emotionLine(cs.reader, sums, count, cs.metric))
	}
	return nil
}

// emotionLine is the summary under a reply: the three emotions with the
// largest mean score over its tokens.
func emotionLine(r *readout.Reader, sums []float64, n int, metric readout.Metric) string {
	idx := make([]int, len(sums))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return math.Abs(sums[idx[a]]) > math.Abs(sums[idx[b]]) })
	var parts []string
	for _, i := range idx[:min(3, len(idx))] {
		parts = append(parts, fmt.Sprintf("%s %+.2f", r.Emotions[i], sums[i]/float64(n)))
	}
	unit := "cosine"
	if metric == readout.ZScore {
		unit = "z"
	}
	return fmt.Sprintf("  [emotions: %s · mean %s over %d tokens, layer %d]", strings.Join(parts, ", "), unit, n, r.Layer)
}
