package remote_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/remote"
)

// Hostile servers that client_test.go's TestBadResponses does not cover: a
// body dribbled out slowly (slow loris), an endless body, and garbage
// answers to writes. Each must end in a clear error within the configured
// timeouts, never a hang or a panic. The servers are self-contained so the
// tests do not depend on the other test files' helpers.

func hostileServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	// Close the dribbling handlers' connections first, or Close waits for
	// them.
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL + "/v1"
}

func hostileClient(t *testing.T, url string, timeout time.Duration) *remote.Client {
	t.Helper()
	c, err := remote.New(remote.Config{
		BaseURL: url, APIKey: "k", Timeout: timeout, MaxAttempts: 2,
		MaxRetryTime: 5 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dribble writes the headers at once, then one byte of body every interval
// until the client goes away.
func dribble(body string, interval time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		for i := 0; ; i++ {
			b := byte(' ')
			if i < len(body) {
				b = body[i]
			}
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(interval):
			}
		}
	}
}

func TestSlowLorisBody(t *testing.T) {
	t.Parallel()
	url := hostileServer(t, dribble(`[{"id":"s1","name":"a"}]`, 50*time.Millisecond))
	c := hostileClient(t, url, 300*time.Millisecond)
	start := time.Now()
	_, err := c.ListScripts(context.Background())
	took := time.Since(start)
	if err == nil {
		t.Fatal("a body that takes 1.2 s to arrive beat a 300 ms timeout")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "300ms") {
		t.Errorf("error %q does not say it timed out", err)
	}
	if took > 2*time.Second {
		t.Errorf("took %s for 2 attempts of 300 ms", took)
	}
}

// A write answered slowly must time out like a read, and a create that
// timed out must not be retried blindly (it may have been made).
func TestSlowLorisCreate(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	url := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
			dribble(`{"id":"s1","name":"a","runOnce":false,"isEnabled":true}`, 100*time.Millisecond)(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[]`))
	})
	c := hostileClient(t, url, 300*time.Millisecond)
	start := time.Now()
	_, err := c.CreateScript(context.Background(), remote.ScriptInput{Name: "a", Body: "echo", IsEnabled: true})
	if err == nil {
		t.Fatal("a create answered too slowly succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	if n := posts.Load(); n > 2 {
		t.Errorf("%d POSTs: more than the attempts allow", n)
	}
}

// An endless body (chunked, no length) is cut at MaxResponseBytes, not
// read until memory runs out.
func TestEndlessBody(t *testing.T) {
	t.Parallel()
	url := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("["))
		chunk := []byte(strings.Repeat(`{"id":"x","name":"y"},`, 1000))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c, err := remote.New(remote.Config{BaseURL: url, APIKey: "k", MaxAttempts: 1, MaxResponseBytes: 1 << 20, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.ListScripts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a too-large error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// Garbage answers to writes: clear errors naming the operation, no panic.
func TestGarbageWriteAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
	}{
		{"html 200", "text/html", "<html><body>maintenance</body></html>", 200},
		{"truncated", "application/json", `{"id":"s1","na`, 201},
		{"wrong types", "application/json", `{"id":5,"name":["a"]}`, 201},
		{"array", "application/json", `[1,2,3]`, 201},
		{"null", "application/json", `null`, 201},
		{"empty", "application/json", ``, 201},
		{"no id", "application/json", `{"name":"a"}`, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`[]`))
					return
				}
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			c := hostileClient(t, url, 2*time.Second)
			ctx := context.Background()
			in := remote.ScriptInput{Name: "a", Body: "echo", IsEnabled: true}
			if _, err := c.CreateScript(ctx, in); err == nil || !strings.Contains(err.Error(), "create script") {
				t.Errorf("create: got %v, want an error naming the create", err)
			}
			if _, err := c.UpdateScript(ctx, "s1", in); err == nil || !strings.Contains(err.Error(), "s1") {
				t.Errorf("update: got %v, want an error naming s1", err)
			}
			if _, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: "t", MachineID: "psbox001"}); err == nil {
				t.Errorf("create template: no error")
			}
		})
	}
}
