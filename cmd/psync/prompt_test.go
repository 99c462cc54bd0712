package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/psync-dev/psync/pkg/sandbox"
)

// openPTY opens a pseudo-terminal: psync sees the slave end as its
// terminal, the test types into and reads from the master end.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Skipf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Skipf("name the pseudo-terminal: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("open the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { slave.Close(); master.Close() })
	return master, slave
}

// screen collects what psync writes to the terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want.
func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q:\n%s", want, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// On a terminal, apply shows the plan and applies only after "yes"; any
// other answer applies nothing.
func TestApplyAsksOnATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	for _, tc := range []struct {
		answer string
		code   int
		want   string // on the terminal or stderr
		remote int    // scripts on the team afterwards
	}{
		{"no", ExitError, "apply cancelled", 0},
		{"yes", ExitOK, "Apply complete: 5 done", 2},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			inst := startSandbox(t)
			manifest := writeManifest(t, twoScripts)
			master, slave := openPTY(t)
			var term screen
			go io.Copy(&term, master)
			var stderr bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run([]string{"-f", manifest, "apply"}, &IO{Stdin: slave, Stdout: slave, Stderr: &stderr, Interrupts: make(chan os.Signal)})
			}()
			term.waitFor(t, "Only 'yes' will be accepted: ")
			if !strings.Contains(term.String(), `+ script "a"`) {
				t.Errorf("the plan was not shown before the question:\n%s", term.String())
			}
			fmt.Fprintf(master, "%s\n", tc.answer)
			var code int
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("apply did not end after the answer")
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, term.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				// The terminal's last lines may still be on their way
				// through the pseudo-terminal.
				term.waitFor(t, tc.want)
			}
			d, err := inst.Server.Dump(inst.TeamID)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.StartupScripts) != tc.remote {
				t.Errorf("%d scripts on the team, want %d", len(d.StartupScripts), tc.remote)
			}
		})
	}
}

// Colour on a terminal, and none with NO_COLOR or --no-color (or when the
// output is not a terminal, which every other test checks).
func TestColourOnATerminal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noColor string
		args    []string
		colour  bool
	}{
		{"terminal", "", nil, true},
		{"NO_COLOR", "1", nil, false},
		{"--no-color", "", []string{"--no-color"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			startSandbox(t)
			manifest := writeManifest(t, twoScripts)
			master, slave := openPTY(t)
			var term screen
			go io.Copy(&term, master)
			args := append(append([]string{"-f", manifest}, tc.args...), "plan")
			var stderr bytes.Buffer
			if code := run(args, &IO{Stdin: strings.NewReader(""), Stdout: slave, Stderr: &stderr, Interrupts: make(chan os.Signal)}); code != 0 {
				t.Fatalf("plan: exit %d\n%s", code, stderr.String())
			}
			term.waitFor(t, "Plan:")
			if got := strings.Contains(term.String(), "\x1b["); got != tc.colour {
				t.Errorf("colour codes: %t, want %t\n%q", got, tc.colour, term.String())
			}
		})
	}
}

// On a terminal, apply's status line never counts more changes in
// progress than --parallelism, and Ctrl-C clears it before the notice, so
// the notice starts on a clean line (not after "[51/113] … 8 in
// progress^C"); the report then says in one line what was not started.
func TestApplyStatusLineAndInterruptOnATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	// 60 changes of 100ms, two at a time: three seconds, interrupted
	// after the third.
	inst, err := sandbox.Start(sandbox.Config{Faults: sandbox.Faults{Latency: 100 * time.Millisecond}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	t.Setenv("PAPERSPACE_API_KEY", inst.Key)
	var m strings.Builder
	m.WriteString("version: 1\nscripts:\n")
	for i := range 60 {
		fmt.Fprintf(&m, "  - name: s%02d\n    script: \"echo %d\\n\"\n", i, i)
	}
	manifest := writeManifest(t, m.String())
	master, slave := openPTY(t)
	var term screen
	go io.Copy(&term, master)
	interrupts := make(chan os.Signal, 1)
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-f", manifest, "apply", "--auto-approve", "--parallelism", "2"},
			&IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: slave, Interrupts: interrupts})
	}()
	term.waitFor(t, "[3/60]")
	interrupts <- os.Interrupt
	if code := <-done; code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", code, ExitInterrupted, term.String())
	}
	term.waitFor(t, "interrupted; the state")
	out := term.String()
	before, _, ok := strings.Cut(out, "psync: interrupted: finishing the changes in flight")
	if !ok {
		t.Fatalf("no interrupt notice:\n%q", out)
	}
	if !strings.HasSuffix(before, "\r") || !strings.HasPrefix(before[strings.LastIndex(strings.TrimSuffix(before, "\r"), "\r"):], "\r ") {
		t.Errorf("the status line was not cleared before the notice:\n%q", before[max(0, len(before)-200):])
	}
	for _, line := range strings.Split(out, "\r") {
		var done, total, inProgress int
		if _, err := fmt.Sscanf(line, "[%d/%d] ", &done, &total); err != nil {
			continue
		}
		if _, rest, ok := strings.Cut(line, "elapsed, "); ok {
			if _, err := fmt.Sscanf(rest, "%d in progress", &inProgress); err == nil && inProgress > 2 {
				t.Errorf("status line %q counts more in progress than --parallelism 2", line)
			}
		}
	}
	if strings.Count(stdout.String(), "not started") != 1 {
		t.Errorf("the report does not say once what was not started:\n%s", stdout.String())
	}
}
