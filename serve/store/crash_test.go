package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const crashEnv = "LIMBIC_STORE_CRASH_CHILD"

// TestCrashChild is the child of TestCrashKeepsAcknowledgedAlerts: it writes
// trace points and alerts as fast as it can, printing "ID n" after each
// InsertAlert returns, until it is killed.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("run by TestCrashKeepsAcknowledgedAlerts")
	}
	path, conv, _ := strings.Cut(spec, "|")
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if err := s.CreateConversation(ctx, Conversation{ID: conv, Emotions: []string{"calm", "desperate"}}); err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	go func() { // a concurrent trace writer, as in the server
		for pos := 0; ; pos += 4 {
			pts := make([]Point, 4)
			for i := range pts {
				pts[i] = Point{ConversationID: conv, Pos: pos + i, TokenID: pos + i, Text: "tok", Generated: true, Values: []float32{1, 2}}
			}
			if err := s.AppendTrace(ctx, pts); err != nil {
				fmt.Println("ERR", err)
				os.Exit(2)
			}
		}
	}()
	for pos := 0; ; pos++ {
		id, err := s.InsertAlert(ctx, Alert{ConversationID: conv, Rule: "desperate-high", State: "firing", Pos: pos, Value: 3.5, Threshold: 3, Delivery: DeliveryPending})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		// acknowledged: written straight to the pipe (os.Stdout is unbuffered)
		if _, err := os.Stdout.WriteString("ID " + strconv.FormatInt(id, 10) + "\n"); err != nil {
			os.Exit(3)
		}
	}
}

// TestCrashKeepsAcknowledgedAlerts kills a writing child with SIGKILL in the
// middle of its stream, three times on the same database, and checks that
// every alert id the child printed (after InsertAlert returned) is in the
// reopened database.
func TestCrashKeepsAcknowledgedAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[int64]bool{}
	for round := range 3 {
		conv := fmt.Sprintf("crash-%d", round)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path+"|"+conv)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		killAfter := 30 + 17*round // ids to read before the kill
		n, killed := 0, false
		deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "ID "); ok {
				id, err := strconv.ParseInt(rest, 10, 64)
				if err != nil {
					t.Fatalf("child printed %q", line)
				}
				acked[id] = true
				n++
				if n == killAfter && !killed {
					// SIGKILL while it keeps writing; the ids already in the
					// pipe are still read below
					if err := cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			} else if strings.HasPrefix(line, "ERR") {
				t.Fatalf("child: %s", line)
			}
		}
		deadline.Stop()
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited after %d ids without being killed: %v", round, n, err)
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("round %d: child ended with %v, want killed by a signal", round, err)
		}

		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		ctx := context.Background()
		var integrity string
		if err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
			t.Errorf("round %d: integrity_check = %q, %v", round, integrity, err)
		}
		stored := map[int64]bool{}
		rows, err := s.r.QueryContext(ctx, "SELECT id FROM alerts")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			stored[id] = true
		}
		rows.Close()
		missing := 0
		for id := range acked {
			if !stored[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("round %d: %d of %d acknowledged alerts lost", round, missing, len(acked))
		}
		if n, err := s.MarkInterrupted(ctx); err != nil || n != 1 {
			t.Errorf("round %d: MarkInterrupted = %d, %v; want the killed conversation", round, n, err)
		}
		t.Logf("round %d: killed after %d acknowledged ids (%d read in all, %d rows stored, %d acknowledged in all, none lost)",
			round, killAfter, n, len(stored), len(acked))
		s.Close()
	}
}
