package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/sandbox"
)

// Ctrl-C (or a CI runner's SIGTERM) stops every command, not only an apply
// that is already running changes: a plan waiting on a slow or unreachable
// API used to ignore both and run on for as long as its retries allowed.
func TestInterruptStopsEveryCommand(t *testing.T) {
	// Every API request takes a minute: only an interrupt can end the
	// command within the test's time.
	inst, err := sandbox.Start(sandbox.Config{Faults: sandbox.Faults{Latency: time.Minute}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	t.Setenv("PAPERSPACE_API_KEY", inst.Key)
	manifest := writeManifest(t, twoScripts)

	for _, tc := range []struct {
		name string
		sig  os.Signal
		args []string
	}{
		{"plan", os.Interrupt, []string{"plan"}},
		{"plan SIGTERM", syscall.SIGTERM, []string{"plan"}},
		{"apply while planning", os.Interrupt, []string{"apply", "--auto-approve"}},
		{"import", os.Interrupt, []string{"import", "--out", t.TempDir() + "/imported.yaml"}},
		// Nothing listens there: the interrupt comes while psync waits
		// between retries.
		{"plan retrying", os.Interrupt, []string{"plan", "--api-url", "http://127.0.0.1:1/v1", "--max-retry-time", "10m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			interrupts := make(chan os.Signal, 1)
			var out, errOut bytes.Buffer
			go func() {
				time.Sleep(200 * time.Millisecond)
				interrupts <- tc.sig
			}()
			done := make(chan int, 1)
			start := time.Now()
			go func() {
				done <- run(append([]string{"-f", manifest}, tc.args...),
					&IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Interrupts: interrupts})
			}()
			select {
			case code := <-done:
				if code != ExitInterrupted {
					t.Errorf("exit %d, want %d\n%s%s", code, ExitInterrupted, out.String(), errOut.String())
				}
				if !strings.Contains(errOut.String(), "interrupted") {
					t.Errorf("stderr does not say it was interrupted:\n%s", errOut.String())
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("took %s to stop after the interrupt", d)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%v still running 20s after an interrupt", tc.args)
			}
		})
	}
}
