package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/testref"
)

// ptyTerm drives a command in a pseudo-terminal.
type ptyTerm struct {
	t   *testing.T
	f   *os.File
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyTerm) read() {
	b := make([]byte, 4096)
	for {
		n, err := p.f.Read(b)
		p.mu.Lock()
		p.buf.Write(b[:n])
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// waitFor waits until the screen output after from holds s, and returns the
// output's length then.
func (p *ptyTerm) waitFor(from int, s string) int {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		out := p.buf.String()
		p.mu.Unlock()
		if from <= len(out) {
			if i := strings.Index(out[from:], s); i >= 0 {
				return from + i + len(s)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.t.Fatalf("no %q on the terminal after byte %d; it shows:\n%s", s, from, p.buf.String())
	return 0
}

func (p *ptyTerm) send(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.f, s); err != nil {
		p.t.Fatal(err)
	}
}

// TestChatPTY runs `limbic chat` on the embedded (base) model in a
// pseudo-terminal: it says it has no chat template, continues the text with an
// emotion line under each reply, takes /steer, /readout, multi-line input,
// /save and /bye.
func TestChatPTY(t *testing.T) {
	pack := writeTestPack(t)
	cmd := exec.Command(bin, "chat", "--vectors", pack, "-n", "12", "--temp", "0")
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	term := &ptyTerm{t: t, f: f}
	go term.read()

	at := term.waitFor(0, "no chat template")
	at = term.waitFor(at, ">>> ")
	term.send("Lily had a red ball.\n")
	at = term.waitFor(at, "[emotions: ")
	at = term.waitFor(at, "layer 4]") // the pack's best layer
	at = term.waitFor(at, ">>> ")

	term.send("/steer nosuch=0.3\n")
	at = term.waitFor(at, "error:")
	term.send("/steer happy=0.3\n")
	at = term.waitFor(at, "steering: happy=0.3")
	term.send("/readout off\n")
	at = term.waitFor(at, ">>> ")
	term.send("\"\"\"\nShe went\nto the park.\n\"\"\"\n")
	at = term.waitFor(at, "... ")
	at = term.waitFor(at, ">>> ")
	term.mu.Lock()
	since := term.buf.String()[at:]
	term.mu.Unlock()
	if strings.Contains(since, "[emotions:") {
		t.Errorf("emotion line after /readout off: %q", since)
	}
	save := filepath.Join(t.TempDir(), "chat.json")
	term.send("/save " + save + "\n")
	at = term.waitFor(at, "saved")
	term.send("/bye\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("chat did not exit after /bye")
	}

	var rec chatRecord
	b, err := os.ReadFile(save)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec.Text, "Lily had a red ball.") || !strings.Contains(rec.Text, "She went\nto the park.") {
		t.Errorf("saved text %q: want the messages, the multi-line one whole", rec.Text)
	}
	if len(rec.Steer) != 1 || rec.Steer[0] != "happy=0.3" {
		t.Errorf("saved steering %v", rec.Steer)
	}
}

// TestChatTemplatePath runs the chat path (a model with a chat template):
// the conversation is kept as messages, the reply stops at the end of the
// turn, and /reset forgets it.
func TestChatTemplatePath(t *testing.T) {
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Tok.SetChatTemplate(chat.Plain)
	var out bytes.Buffer
	cs := &chatSession{m: m, vf: &vectorFlags{}, max: 8, sampling: model.Sampling{}, system: "Be kind.", out: &out, ctx: context.Background()}
	if err := cs.loop(nil, strings.NewReader("Hello there\n/bye\n")); err != nil {
		t.Fatal(err)
	}
	if len(cs.msgs) != 3 || cs.msgs[0].Role != "system" || cs.msgs[1].Content != "Hello there" || cs.msgs[2].Role != "assistant" {
		t.Fatalf("messages %+v", cs.msgs)
	}
	if cs.msgs[2].Content == "" {
		t.Error("empty reply")
	}
	if _, err := cs.command("/reset"); err != nil || cs.msgs != nil {
		t.Errorf("/reset: %v, messages %v", err, cs.msgs)
	}
	if _, err := cs.command("/frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
}
