package sandbox_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// childEnv, when set to a directory, makes the test binary a sandbox
// server on that directory (see TestCrashLosesNoAcknowledgedWrite).
const childEnv = "PSYNC_SANDBOX_TEST_CHILD"

func runChild(dir string) {
	in, err := sandbox.Start(sandbox.Config{DataDir: dir, Keys: map[string]string{"crash-key": "team-crash"}}, "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("URL", in.URL)
	select {} // until killed
}

// startChild runs a sandbox server on dir in a child process and returns it
// with its URL.
func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "URL ")
	if !ok {
		t.Fatalf("child: %s", line)
	}
	return cmd, url
}

// TestCrashLosesNoAcknowledgedWrite kills a sandbox process with SIGKILL
// while writers are busy, reopens its directory and checks every
// acknowledged write is there.
func TestCrashLosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	for round := 0; round < 2; round++ {
		cmd, url := startChild(t, dir)
		e := attach(t, nil, url)
		e.key = "crash-key"

		var mu sync.Mutex
		created := map[string]string{} // acknowledged: id -> name
		deleted := map[string]bool{}
		// A delete sent whose answer the kill cut off may or may not
		// have happened: either outcome is right.
		deleting := map[string]bool{}
		assigned := map[string]string{} // id -> machine
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					r, err := e.try(e.key, "POST", "/startup-scripts", api.StartupScriptCreate{Name: name, Script: strings.Repeat("x", 100*i%api.MaxScriptBytes)})
					if err != nil || r.status != http.StatusCreated {
						return // the server died mid-request: unacknowledged
					}
					var sc api.StartupScript
					if json.Unmarshal(r.body, &sc) != nil || sc.ID == "" {
						return
					}
					id := sc.ID
					mu.Lock()
					created[id] = name
					mu.Unlock()
					switch i % 3 {
					case 1:
						m := fmt.Sprintf("psbox%03d", 1+i%10)
						if r, err := e.try(e.key, "POST", "/startup-scripts/"+id+"/assign", api.MachineRef{MachineID: m}); err == nil && r.status == http.StatusOK {
							mu.Lock()
							assigned[id] = m
							mu.Unlock()
						}
					case 2:
						mu.Lock()
						deleting[id] = true
						mu.Unlock()
						if r, err := e.try(e.key, "DELETE", "/startup-scripts/"+id, nil); err == nil && r.status == http.StatusNoContent {
							mu.Lock()
							deleted[id] = true
							mu.Unlock()
						}
					}
				}
			}()
		}
		// Let the writers run, then kill the server under them.
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(created)
			mu.Unlock()
			if n >= 150 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		close(stop)
		wg.Wait()
		if len(created) < 20 {
			t.Fatalf("round %d: only %d writes acknowledged before the kill", round, len(created))
		}

		s, err := sandbox.New(sandbox.Config{DataDir: dir, Keys: map[string]string{"crash-key": "team-crash"}})
		if err != nil {
			t.Fatalf("reopen after kill -9: %v", err)
		}
		d, err := s.Dump("team-crash")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		have := map[string]sandbox.DumpScript{}
		for _, sc := range d.StartupScripts {
			have[sc.ID] = sc
		}
		var lost []string
		for id, name := range created {
			sc, ok := have[id]
			switch {
			case deleted[id] && ok:
				lost = append(lost, "deleted "+name+" is back")
			case deleted[id]:
			case !ok && deleting[id]:
				// Deleted, the answer lost with the server.
			case !ok:
				lost = append(lost, "created "+name+" is gone")
			case sc.Name != name:
				lost = append(lost, fmt.Sprintf("%s is named %s", name, sc.Name))
			case assigned[id] != "" && !cmp.Equal(sc.MachineIDs, []string{assigned[id]}):
				lost = append(lost, fmt.Sprintf("%s has machines %v, want [%s]", name, sc.MachineIDs, assigned[id]))
			}
		}
		sort.Strings(lost)
		if len(lost) > 0 {
			t.Fatalf("round %d: %d of %d acknowledged writes lost after kill -9:\n%s", round, len(lost), len(created), strings.Join(lost, "\n"))
		}
		t.Logf("round %d: %d creates, %d assigns, %d deletes acknowledged, all there after kill -9", round, len(created), len(assigned), len(deleted))
	}
}
