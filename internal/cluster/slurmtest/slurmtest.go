// Package slurmtest runs a real single-node Slurm cluster for a test: its
// own munged (with a fresh key), slurmctld and slurmd, on loopback ports
// of their own, with every file under the test's temporary directory and no
// cgroups (proctrack/linuxproc, task/none). It needs Debian's slurm-wlm and
// munge; Start skips the test, saying why, where they are missing or
// cannot run.
package slurmtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cluster is a running single-node Slurm cluster.
type Cluster struct {
	Dir   string // everything of the cluster lives here
	Conf  string // slurm.conf; commands find it through $SLURM_CONF
	Node  string // the node's name (this host's short name)
	t     testing.TB
	procs []*proc
}

// proc is a daemon: done is closed when it has exited, with err.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// daemons are the programs Start needs.
var daemons = []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo"}

// Start starts a cluster with cpus CPUs on its one node and stops it when
// the test ends: its jobs cancelled, then the daemons terminated (killed
// after 10 s). It skips the test when a program is missing, and fails it
// when the daemons do not come up within a minute.
func Start(t testing.TB, cpus int) *Cluster {
	t.Helper()
	for _, p := range daemons {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("slurmtest: %s is not installed (Debian's slurm-wlm and munge; scripts/test-setup.sh installs them): %v", p, err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Skipf("slurmtest: no current user to run the daemons as: %v", err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("slurmtest: no host name for the node: %v", err)
	}
	host, _, _ = strings.Cut(host, ".")
	// Socket paths must stay short (108 bytes): a directory of our own
	// under /tmp rather than the test's long temporary path.
	dir, err := os.MkdirTemp("", "slurmtest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), Node: host, t: t}
	t.Cleanup(c.stop)
	for _, d := range []string{"munge", "state", "spool", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// munged wants its socket's directory searchable by everyone.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "munge"), 0o755); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "munge", "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	conf := fmt.Sprintf(`# A single-node cluster for a test. Written by slurmtest.
ClusterName=slurmtest
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[4]s/munge/socket
SlurmUser=%[5]s
SlurmdUser=%[5]s
StateSaveLocation=%[4]s/state
SlurmdSpoolDir=%[4]s/spool
SlurmctldPidFile=%[4]s/slurmctld.pid
SlurmdPidFile=%[4]s/slurmd.pid
SlurmctldLogFile=%[4]s/log/slurmctld.log
SlurmdLogFile=%[4]s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
InactiveLimit=0
MinJobAge=3600
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=%[6]d State=UNKNOWN
PartitionName=test Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, ports[0], ports[1], dir, u.Username, cpus)
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.daemon("munged", "--foreground", "--force", "--key-file="+filepath.Join(dir, "munge", "key"),
		"--socket="+filepath.Join(dir, "munge", "socket"), "--pid-file="+filepath.Join(dir, "munge", "pid"),
		"--log-file="+filepath.Join(dir, "log", "munged.log"), "--seed-file="+filepath.Join(dir, "munge", "seed"))
	if err := c.waitFor(10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "munge", "socket"))
		return err == nil
	}); err != nil {
		t.Fatalf("slurmtest: munged did not create its socket: %v\n%s", err, c.Logs())
	}
	c.daemon("slurmctld", "-D", "-f", c.Conf)
	c.daemon("slurmd", "-D", "-f", c.Conf, "-N", host)
	if err := c.waitFor(60*time.Second, func() bool {
		out, err := c.Command("sinfo", "-h", "-n", host, "-o", "%T").Output()
		return err == nil && strings.TrimSpace(string(out)) == "idle"
	}); err != nil {
		t.Fatalf("slurmtest: the node did not become idle: %v\n%s", err, c.Logs())
	}
	return c
}

// freePorts returns n TCP ports free on loopback just now.
func freePorts(t testing.TB, n int) []int {
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// daemon starts a daemon in the foreground, in a process group of its own,
// its output appended to log/NAME.out.
func (c *Cluster) daemon(name string, args ...string) {
	c.t.Helper()
	out, err := os.OpenFile(filepath.Join(c.Dir, "log", name+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := c.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		c.t.Fatalf("slurmtest: starting %s: %v", name, err)
	}
	out.Close()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
}

// Env returns the environment of commands run against the cluster: this
// process's, with $SLURM_CONF.
func (c *Cluster) Env() []string { return append(os.Environ(), "SLURM_CONF="+c.Conf) }

// Command returns a command run against the cluster.
func (c *Cluster) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = c.Env()
	return cmd
}

func (c *Cluster) waitFor(timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited: %v", filepath.Base(p.cmd.Path), p.err)
			default:
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// Job is a job's (or array task's) state as scontrol shows it.
type Job struct {
	ID, Name, State, ExitCode string
}

// Jobs returns every job the controller knows, array tasks one by one.
func (c *Cluster) Jobs() ([]Job, error) {
	out, err := c.Command("scontrol", "show", "job", "-o").Output()
	if err != nil {
		return nil, fmt.Errorf("scontrol show job: %w", err)
	}
	var jobs []Job
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || strings.HasPrefix(line, "No jobs") {
			continue
		}
		var j Job
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "JobId":
				j.ID = v
			case "ArrayTaskId":
				j.ID += "_" + v
			case "JobName":
				j.Name = v
			case "JobState":
				j.State = v
			case "ExitCode":
				j.ExitCode = v
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// WaitIdle waits until no job is pending or running, then returns every
// job; an error when that takes longer than timeout (the jobs are then
// cancelled when the test ends).
func (c *Cluster) WaitIdle(ctx context.Context, timeout time.Duration) ([]Job, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.Command("squeue", "-h", "-o", "%i %T").Output()
		if err != nil {
			return nil, fmt.Errorf("squeue: %w", err)
		}
		if len(bytes.TrimSpace(out)) == 0 {
			return c.Jobs()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("jobs still queued after %v:\n%s", timeout, out)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Logs returns the end of the daemons' logs, for a failing test's message.
func (c *Cluster) Logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(c.Dir, "log", "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

// stop cancels every job, waits (bounded) for them to go, then stops the
// daemons: SIGTERM, and SIGKILL to the process group after 10 s.
func (c *Cluster) stop() {
	if c.t.Failed() {
		c.t.Logf("slurmtest logs:\n%s", c.Logs())
	}
	if len(c.procs) > 1 {
		if u, err := user.Current(); err == nil {
			c.Command("scancel", "--full", "-u", u.Username).Run()
			c.waitFor(15*time.Second, func() bool {
				out, err := c.Command("squeue", "-h").Output()
				return err != nil || len(bytes.TrimSpace(out)) == 0
			})
		}
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.t.Logf("slurmtest: removing %s: %v", c.Dir, err)
	}
}
