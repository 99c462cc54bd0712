package main

import (
	"bufio"
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
			pr, pw := io.Pipe()
			interrupts := make(chan os.Signal, 1)
			done := make(chan int)
			go func() {
				done <- run([]string{"sandbox", "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--dialect", dialect},
					&IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Interrupts: interrupts})
				pw.Close()
			}()
			lines := bufio.NewScanner(pr)
			use := regexp.MustCompile(`export PAPERSPACE_API_URL=(\S+) PAPERSPACE_API_KEY=(\S+)`)
			var url, key string
			for url == "" && lines.Scan() {
				if m := use.FindStringSubmatch(lines.Text()); m != nil {
					url, key = m[1], m[2]
				}
			}
			if url == "" {
				t.Fatal("sandbox serve never said how to use it")
			}
			go io.Copy(io.Discard, pr)

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

			interrupts <- syscall.SIGINT
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d after an interrupt, want 0", code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("sandbox serve did not stop on an interrupt")
			}
		})
	}
}
