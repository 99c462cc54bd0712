package s3test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A test binary that dies without its cleanups (a -timeout panic, a
// kill) must not leave its S3 server running on a shared machine.
func TestServerDiesWithTheTest(t *testing.T) {
	if os.Getenv("S3TEST_CHILD") == "1" {
		srv := Start(t)
		fmt.Printf("pid %d\n", srv.cmd.Process.Pid)
		os.Exit(3) // no cleanup runs
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTheTest$")
	cmd.Env = append(os.Environ(), "S3TEST_CHILD=1")
	out, _ := cmd.Output()
	var pid int
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "pid "); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	if pid == 0 {
		t.Fatalf("the child test started no server:\n%s", out)
	}
	deadline := time.Now().Add(time.Minute) // a bound, not a timing
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("versitygw (pid %d) outlived the test process that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs: a zombie (whose parent is gone, waiting
// for an init that may not reap it) does not.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
