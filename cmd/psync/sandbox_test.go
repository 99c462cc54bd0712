package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// psync sandbox serve prints how to reach it, serves the API with the key
// it printed (401 without), and stops on an interrupt.
func TestSandboxServe(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			url, key, stop := serveSandbox(t, "--dialect", dialect)
			get := func(key string) int {
				req, _ := http.NewRequest("GET", url+"/startup-scripts", nil)
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := get(key); code != http.StatusOK {
				t.Errorf("GET with the printed key: %d, want 200", code)
			}
			if code := get(""); code != http.StatusUnauthorized {
				t.Errorf("GET without a key: %d, want 401", code)
			}

			if code := stop(); code != 0 {
				t.Errorf("exit %d after an interrupt, want 0", code)
			}
		})
	}
}

// The fault flags of sandbox serve reach the sandbox: every request is
// throttled, or fails, as asked (found untested by a design audit; swapping
// two of them went unnoticed).
func TestSandboxServeFaults(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want func(status int, header http.Header) bool
	}{
		{"--throttle-rate", func(s int, h http.Header) bool { return s == http.StatusTooManyRequests && h.Get("Retry-After") != "" }},
		{"--error-rate", func(s int, _ http.Header) bool {
			return s == http.StatusInternalServerError || s == http.StatusServiceUnavailable
		}},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			url, key, stop := serveSandbox(t, tc.flag, "1")
			for range 5 {
				req, _ := http.NewRequest("GET", url+"/startup-scripts", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if !tc.want(resp.StatusCode, resp.Header) {
					t.Errorf("%s 1: GET answered %d (Retry-After %q)", tc.flag, resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			}
			stop()
		})
	}
}

// serveSandbox runs psync sandbox serve with args in-process, and returns
// the URL and key it prints and a stop that interrupts it and returns its
// exit code.
func serveSandbox(t *testing.T, args ...string) (url, key string, stop func() int) {
	t.Helper()
	pr, pw := io.Pipe()
	interrupts := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(append([]string{"sandbox", "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, args...),
			&IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Interrupts: interrupts})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	use := regexp.MustCompile(`export PAPERSPACE_API_URL=(\S+) PAPERSPACE_API_KEY=(\S+)`)
	for url == "" && lines.Scan() {
		if m := use.FindStringSubmatch(lines.Text()); m != nil {
			url, key = m[1], m[2]
		}
	}
	if url == "" {
		t.Fatal("sandbox serve never said how to use it")
	}
	go io.Copy(io.Discard, pr)
	return url, key, func() int {
		interrupts <- syscall.SIGINT
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("sandbox serve did not stop on an interrupt")
			return -1
		}
	}
}

// The paperspace-v1 edge flags reach the sandbox: a deleted script lingers
// unmarked and readable, a duplicate assign gets the status asked for, and
// a body over the limit is refused.
func TestSandboxServeLiveEdges(t *testing.T) {
	url, key, stop := serveSandbox(t, "--dialect", "paperspace-v1", "--deleted-linger", "1h", "--deleted-unmarked",
		"--redundant-assign-status", "409", "--max-script-bytes", "10")
	defer stop()
	send := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if st, _ := send("POST", "/startup-scripts", `{"name":"big","script":"echo 0123456789"}`); st != 400 {
		t.Errorf("a body over --max-script-bytes: %d, want 400", st)
	}
	st, s := send("POST", "/startup-scripts", `{"name":"a","script":"true"}`)
	if st != 200 {
		t.Fatalf("create: %d %v", st, s)
	}
	id, _ := s["id"].(string)
	send("POST", "/startup-scripts/"+id+"/assign", `{"machineId":"psbox001"}`)
	if st, _ := send("POST", "/startup-scripts/"+id+"/assign", `{"machineId":"psbox001"}`); st != 409 {
		t.Errorf("duplicate assign: %d, want 409", st)
	}
	send("DELETE", "/startup-scripts/"+id, "")
	if st, got := send("GET", "/startup-scripts/"+id, ""); st != 200 || got["dtDeleted"] != nil {
		t.Errorf("GET of the lingering script: %d %v, want 200 without dtDeleted", st, got)
	}
}
