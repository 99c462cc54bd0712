package remote_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/remote"
)

const testKey = "psk_live_SECRET_abcdef0123456789"

// fake is a scriptable API server for the cases the sandbox cannot
// produce: broken bodies, odd dialects, servers that misbehave.
type fake struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	log []string // "METHOD /path?query"
	h   func(w http.ResponseWriter, r *http.Request, n int)
}

func newFake(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	t.Helper()
	f := &fake{t: t, h: h}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"code":"UNAUTHORIZED","message":"bad key %q"}`, got)
			return
		}
		f.mu.Lock()
		f.log = append(f.log, r.Method+" "+r.URL.RequestURI())
		n := len(f.log)
		f.mu.Unlock()
		f.h(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fake) client(t *testing.T, mod ...func(*remote.Config)) *remote.Client {
	t.Helper()
	cfg := remote.Config{
		BaseURL:     f.srv.URL + "/v1/",
		APIKey:      testKey,
		Timeout:     2 * time.Second,
		MaxAttempts: 4,
		BackoffBase: time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
		Dialect:     remote.DialectSpec, // no detection request before writes
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := remote.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  remote.Config
		want string // substring of the error; "" for success
	}{
		{"ok", remote.Config{BaseURL: "https://api.paperspace.com/v1", APIKey: "k"}, ""},
		{"no key", remote.Config{BaseURL: "https://api.paperspace.com/v1"}, "no API key"},
		{"no url", remote.Config{APIKey: "k"}, "no API URL"},
		{"relative", remote.Config{BaseURL: "api.paperspace.com/v1", APIKey: "k"}, "absolute https://"},
		{"ftp", remote.Config{BaseURL: "ftp://x/v1", APIKey: "k"}, "absolute https://"},
		{"plain http remote", remote.Config{BaseURL: "http://api.example.com/v1", APIKey: "k"}, "refusing plain http://"},
		{"plain http insecure", remote.Config{BaseURL: "http://api.example.com/v1", APIKey: "k", InsecureHTTP: true}, ""},
		{"plain http loopback v4", remote.Config{BaseURL: "http://127.0.0.1:8080/v1", APIKey: "k"}, ""},
		{"plain http loopback v6", remote.Config{BaseURL: "http://[::1]:8080/v1", APIKey: "k"}, ""},
		{"plain http localhost", remote.Config{BaseURL: "http://localhost:8080/v1", APIKey: "k"}, ""},
		{"credentials", remote.Config{BaseURL: "https://user:pw@api.example.com/v1", APIKey: "k"}, "must not contain credentials"},
		{"query", remote.Config{BaseURL: "https://api.example.com/v1?x=1", APIKey: "k"}, "query"},
		{"negative rate", remote.Config{BaseURL: "https://api.example.com/v1", APIKey: "k", RateLimit: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := remote.New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A bad API URL is quoted in the error, but never the key: the key put in
// PAPERSPACE_API_URL too (a CI secret mapped to both variables), or in the
// URL's query, would otherwise be printed in the CI log.
func TestNewErrorsNeverShowTheKey(t *testing.T) {
	const key = "psk_live_0123456789abcdef"
	for _, base := range []string{
		key,
		"https://api.paperspace.com/v1?apiKey=" + key,
		"https://api.paperspace.com/v1#" + key,
		"http://api.example.com/" + key,
		"https://api.paperspace.com/v1/%zz" + key,
	} {
		_, err := remote.New(remote.Config{BaseURL: base, APIKey: key})
		if err == nil {
			t.Errorf("New(%q): no error", base)
			continue
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("New(%q): the error shows the key: %v", base, err)
		}
	}
}

func TestBaseURLNormalised(t *testing.T) {
	c, err := remote.New(remote.Config{BaseURL: "HTTPS://API.Paperspace.com/v1/", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.BaseURL(), "https://api.paperspace.com/v1"; got != want {
		t.Errorf("BaseURL() = %q, want %q", got, want)
	}
}

// The spec dialect: bare arrays, runOnce, teamId; no session route.
func TestFetchSpecDialect(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/v1/startup-scripts":
			writeJSON(w, 200, `[
				{"id":"s2","name":"b","runOnce":true,"isEnabled":false,"teamId":"t1","dtCreated":"2024-01-01T00:00:00Z","unknown":{"x":1}},
				{"id":"s1","name":"a","runOnce":false,"isEnabled":true,"teamId":"t1"},
				{"id":"s0","name":"b","runOnce":false,"isEnabled":true,"teamId":"t1","script":"echo hi"},
				{"id":"s1","name":"a","runOnce":false,"isEnabled":true,"teamId":"t1"}]`)
		case "/v1/custom-templates":
			writeJSON(w, 200, `[{"id":"c1","name":"ml","note":"n","machineId":"psbox001","teamId":"t1"}]`)
		case "/v1/os-templates":
			writeJSON(w, 200, `[{"id":"o2","name":"Ubuntu 22","os":"linux"},{"id":"o1","name":"Ubuntu 20","os":"linux","defaultUser":"paperspace"}]`)
		default:
			writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no route"}`)
		}
	})
	c := f.client(t)
	got, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := "echo hi"
	want := &remote.Snapshot{
		Dialect: remote.DialectSpec,
		Team:    "t1",
		Scripts: []remote.Script{
			{ID: "s1", Name: "a", IsEnabled: true},
			{ID: "s0", Name: "b", IsEnabled: true, Body: &body},
			{ID: "s2", Name: "b", RunOnce: true},
		},
		Templates:   []remote.Template{{ID: "c1", Name: "ml", Note: "n", MachineID: "psbox001"}},
		OSTemplates: []remote.OSTemplate{{ID: "o1", Name: "Ubuntu 20", OS: "linux"}, {ID: "o2", Name: "Ubuntu 22", OS: "linux"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fetch (-want +got):\n%s", diff)
	}
	if d := c.Dialect(); d != remote.DialectSpec {
		t.Errorf("Dialect() = %q, want spec", d)
	}
	// The session is asked once per client, even across fetches.
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	sessions := 0
	for _, r := range f.requests() {
		if strings.HasPrefix(r, "GET /v1/auth/session") {
			sessions++
		}
	}
	if sessions != 1 {
		t.Errorf("%d session requests, want 1", sessions)
	}
}

// The live dialect: envelopes with cursors, isRunOnce, assignedMachineIds,
// parentMachineId, repeated items across pages, deleted objects, and a
// session naming the team.
func TestFetchLiveDialect(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		q := r.URL.Query()
		if q.Get("limit") != "120" && r.URL.Path != "/v1/auth/session" {
			t.Errorf("%s: limit=%q, want 120", r.URL, q.Get("limit"))
		}
		switch r.URL.Path + "?" + q.Get("after") {
		case "/v1/startup-scripts?":
			writeJSON(w, 200, `{"items":[
				{"id":"s1","name":"a","description":null,"isEnabled":true,"isRunOnce":true,"assignedMachineIds":["psbox002","psbox001"],"dtCreated":"2024-01-01T00:00:00Z","dtDeleted":null},
				{"id":"s2","name":"b","isEnabled":true,"isRunOnce":false,"assignedMachineIds":[]}],
				"hasMore":true,"nextPage":"cur1"}`)
		case "/v1/startup-scripts?cur1":
			writeJSON(w, 200, `{"items":[
				{"id":"s2","name":"b","isEnabled":true,"isRunOnce":false,"assignedMachineIds":[]},
				{"id":"s3","name":"gone","isEnabled":true,"isRunOnce":false,"assignedMachineIds":[],"dtDeleted":"2024-02-01T00:00:00Z"}],
				"hasMore":false,"nextPage":null}`)
		case "/v1/custom-templates?":
			writeJSON(w, 200, `{"items":[{"id":"c1","name":"ml","parentMachineId":"psbox003","region":"East Coast (NY2)","availableMachineTypes":[{"machineTypeLabel":"A100","isAvailable":true}]}],"hasMore":false,"nextPage":null}`)
		case "/v1/os-templates?":
			writeJSON(w, 200, `{"items":[{"id":"o1","name":"Ubuntu 22","operatingSystemLabel":"Ubuntu 22.04"}],"hasMore":false,"nextPage":null}`)
		case "/v1/auth/session?":
			writeJSON(w, 200, `{"user":{"id":"u1"},"team":{"id":"team42","namespace":"acme"}}`)
		default:
			writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no route"}`)
		}
	})
	got, err := f.client(t).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &remote.Snapshot{
		Dialect:          remote.DialectPaperspaceV1,
		Team:             "team42",
		AssignmentsKnown: true,
		Scripts: []remote.Script{
			{ID: "s1", Name: "a", RunOnce: true, IsEnabled: true, AssignedMachines: []string{"psbox001", "psbox002"}},
			{ID: "s2", Name: "b", IsEnabled: true},
		},
		Templates:   []remote.Template{{ID: "c1", Name: "ml", MachineID: "psbox003"}},
		OSTemplates: []remote.OSTemplate{{ID: "o1", Name: "Ubuntu 22", OS: "Ubuntu 22.04"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fetch (-want +got):\n%s", diff)
	}
}

// A bare array that fills the page is followed with after=<last id>, the
// spec's cursor for the OS catalogue, until a short page.
func TestBareArrayPaging(t *testing.T) {
	const total = 250
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		q := r.URL.Query()
		start := 0
		if a := q.Get("after"); a != "" {
			fmt.Sscanf(a, "o%03d", &start)
			start++
		}
		var items []string
		for i := start; i < total && len(items) < 120; i++ {
			items = append(items, fmt.Sprintf(`{"id":"o%03d","name":"os %03d"}`, i, i))
		}
		writeJSON(w, 200, "["+strings.Join(items, ",")+"]")
	})
	got, err := f.client(t).ListOSTemplates(context.Background(), remote.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Errorf("got %d OS templates, want %d", len(got), total)
	}
	want := []string{"GET /v1/os-templates?limit=120", "GET /v1/os-templates?after=o119&limit=120", "GET /v1/os-templates?after=o239&limit=120"}
	if diff := cmp.Diff(want, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// A server whose cursor never advances is an error, not a hang.
func TestCursorNotAdvancing(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, `{"items":[{"id":"s1","name":"a"}],"hasMore":true,"nextPage":"same"}`)
	})
	_, err := f.client(t).ListScripts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cursor does not advance") {
		t.Fatalf("got %v, want a cursor error", err)
	}
}

// Bad answers give clear errors, never panics, and are not retried when
// retrying cannot help.
func TestBadResponses(t *testing.T) {
	big := `[` + strings.Repeat(`{"id":"x","name":"y"},`, 5000) + `{"id":"z","name":"z"}]`
	for _, tc := range []struct {
		name     string
		status   int
		ctype    string
		body     string
		want     string // substring of the error
		attempts int    // requests expected
	}{
		{"truncated json", 200, "application/json", `[{"id":"s1","name":"a"`, "truncated JSON response", 1},
		{"html page", 200, "text/html", `<!DOCTYPE html><html><body>Login</body></html>`, "HTML page", 1},
		{"html error page", 502, "text/html", `<html><body>Bad Gateway</body></html>`, "502: the server answered with an HTML page", 4},
		{"wrong types", 200, "application/json", `[{"id":"s1","name":"a","isEnabled":"yes"}]`, "malformed JSON response", 1},
		{"wrong shape", 200, "application/json", `"hello"`, "malformed JSON response", 1},
		{"object without items", 200, "application/json", `{"foo":1}`, "object without items", 1},
		{"null", 200, "application/json", `null`, "expected a list", 1},
		{"empty body", 200, "application/json", ``, "empty response body", 1},
		{"no id", 200, "application/json", `[{"name":"a"}]`, "has no id", 1},
		{"2xx error body", 200, "application/json", `{"code":"BAD_REQUEST","message":"limit is wrong"}`, "200 BAD_REQUEST: limit is wrong", 1},
		{"2xx retryable error body", 200, "application/json", `{"code":"INTERNAL_SERVER_ERROR","message":"oops"}`, "200 INTERNAL_SERVER_ERROR: oops", 4},
		{"plain text error", 400, "text/plain", "bad\nthing", `400: unexpected response: "bad thing"`, 1},
		{"error wrapper", 400, "application/json", `{"error":"nope"}`, "400: nope", 1},
		{"huge body", 200, "application/json", big, "larger than 4096 bytes", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			c := f.client(t, func(c *remote.Config) { c.MaxResponseBytes = 4096 })
			_, err := c.ListScripts(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			var e *remote.Error
			if !errors.As(err, &e) || e.Op != "list" {
				t.Errorf("error %#v is not a *remote.Error for list", err)
			}
			if n := len(f.requests()); n != tc.attempts {
				t.Errorf("%d requests, want %d", n, tc.attempts)
			}
		})
	}
}

// A body cut short by the connection is a network error: retried.
func TestTruncatedConnectionRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			io.WriteString(w, `[{"id":"s1"`)
			return // the server closes the connection short of 1000 bytes
		}
		writeJSON(w, 200, `[{"id":"s1","name":"a"}]`)
	})
	got, err := f.client(t).ListScripts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(f.requests()) != 2 {
		t.Errorf("got %v after %d requests, want 1 script after 2", got, len(f.requests()))
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel() // mostly waiting: overlap with the rest
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := f.client(t, func(c *remote.Config) { c.Timeout = 50 * time.Millisecond; c.MaxAttempts = 2 })
	start := time.Now()
	_, err := c.GetScript(context.Background(), "s1")
	if err == nil || !strings.Contains(err.Error(), "no answer within 50ms") || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("got %v, want a timeout after 2 attempts", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, DeadlineExceeded) = false for %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestRetriesBounded(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 503, `{"code":"SERVICE_UNAVAILABLE","message":"down"}`)
	})
	c := f.client(t, func(c *remote.Config) { c.MaxAttempts = 3 })
	err := c.DeleteScript(context.Background(), "s1")
	want := "delete script s1: 503 SERVICE_UNAVAILABLE: down [after 3 attempts]"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}

	// And bounded in time: Retry-After beyond the budget stops at once.
	f2 := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, 429, `{"code":"TOO_MANY_REQUESTS","message":"slow down"}`)
	})
	c2 := f2.client(t, func(c *remote.Config) { c.MaxAttempts = 10; c.MaxRetryTime = time.Second })
	start := time.Now()
	if _, err := c2.GetScript(context.Background(), "s1"); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("got %v, want a 429", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s, want an immediate give-up", d)
	}
}

// A Retry-After longer than the retry budget (an hour, from a hostile or
// misconfigured API) is given up at once, and the error says why: a bare
// 429 after one attempt reads as if psync had not retried at all.
func TestRetryAfterBeyondTheBudgetSaysSo(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "3600")
		writeJSON(w, 429, `{"code":"TOO_MANY_REQUESTS","message":"slow down"}`)
	})
	c := f.client(t, func(c *remote.Config) { c.MaxRetryTime = 2 * time.Minute })
	_, err := c.GetScript(context.Background(), "s1")
	want := "get script s1: 429 TOO_MANY_REQUESTS: slow down (the API asked to wait 1h0m0s, longer than --max-retry-time 2m0s)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNotRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 400, `{"code":"BAD_REQUEST","message":"script is longer than 16384 bytes","details":{"limit":16384},"issues":[{"message":"Too long","path":["script"]}]}`)
	})
	_, err := f.client(t).CreateScript(context.Background(), remote.ScriptInput{Name: "install-cuda", Body: "x", IsEnabled: true})
	want := `create script "install-cuda": 400 BAD_REQUEST: script is longer than 16384 bytes (script: Too long; limit=16384)`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	var e *remote.Error
	if !errors.As(err, &e) {
		t.Fatal("not a *remote.Error")
	}
	wantErr := &remote.Error{Op: "create", Kind: "script", Name: "install-cuda", Status: 400, Code: "BAD_REQUEST",
		Message: "script is longer than 16384 bytes", Details: map[string]any{"limit": float64(16384)},
		Issues: []api.Issue{{Message: "Too long", Path: []string{"script"}}}, Attempts: 1}
	if diff := cmp.Diff(wantErr, e); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if len(f.requests()) != 1 {
		t.Errorf("%d requests, want 1", len(f.requests()))
	}
}

func TestIsNotFound(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 404, `{"code":"NOT_FOUND","message":"startup script \"s9\" not found"}`)
	})
	_, err := f.client(t).GetScript(context.Background(), "s9")
	if !remote.IsNotFound(err) {
		t.Fatalf("IsNotFound(%v) = false", err)
	}
	if remote.IsNotFound(errors.New("x")) || remote.IsNotFound(nil) {
		t.Error("IsNotFound true for a foreign error")
	}
}

// A DELETE that succeeded but whose answer was lost is retried, and the
// 404 of the retry means success.
func TestDeleteRetryNotFoundIsSuccess(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeJSON(w, 500, `{"code":"INTERNAL_SERVER_ERROR","message":"lost"}`)
			return
		}
		writeJSON(w, 404, `{"code":"NOT_FOUND","message":"gone"}`)
	})
	if err := f.client(t).DeleteTemplate(context.Background(), "c1"); err != nil {
		t.Fatalf("DeleteTemplate: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel() // mostly waiting: overlap with the rest
	for _, form := range []string{"seconds", "date"} {
		t.Run(form, func(t *testing.T) {
			var first time.Time
			var gap time.Duration
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					first = time.Now()
					if form == "seconds" {
						w.Header().Set("Retry-After", "1")
					} else {
						// HTTP dates have whole seconds: two seconds ahead
						// is at least one second away.
						w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
					}
					writeJSON(w, 429, `{"code":"TOO_MANY_REQUESTS","message":"slow"}`)
					return
				}
				gap = time.Since(first)
				writeJSON(w, 200, `{"id":"s1","name":"a"}`)
			})
			if _, err := f.client(t).GetScript(context.Background(), "s1"); err != nil {
				t.Fatal(err)
			}
			if gap < 950*time.Millisecond || gap > 3*time.Second {
				t.Errorf("retried after %s, want about 1-2s", gap)
			}
		})
	}
}

// The key is in no debug line and no error, even when the server echoes
// the Authorization header back, and it never follows a redirect to
// another host.
func TestKeyNeverLeaks(t *testing.T) {
	var elsewhereAuth atomic.Value
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereAuth.Store(r.Header.Get("Authorization"))
		writeJSON(w, 200, `[]`)
	}))
	defer elsewhere.Close()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		auth := r.Header.Get("Authorization")
		switch {
		case r.URL.Path == "/v1/custom-templates":
			http.Redirect(w, r, elsewhere.URL+"/v1/custom-templates", http.StatusFound)
		case r.Method == http.MethodPost:
			writeJSON(w, 400, fmt.Sprintf(`{"code":"BAD_REQUEST","message":"header was %s","details":{"auth":%q,"nested":[%q]},"issues":[{"message":%q,"path":[%q]}]}`, auth, auth, auth, auth, auth))
		case r.Method == http.MethodPut:
			writeJSON(w, 200, fmt.Sprintf(`{"id": 5, "echo": %q}`, auth))
		case r.Method == http.MethodDelete:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(403)
			io.WriteString(w, "forbidden for "+auth)
		default:
			writeJSON(w, 200, fmt.Sprintf(`{"code":"UNAUTHORIZED","message":"%s is not valid"}`, auth))
		}
	})
	var debug bytes.Buffer
	c := f.client(t, func(c *remote.Config) { c.Debug = &debug })
	var errs []error
	_, err := c.CreateScript(context.Background(), remote.ScriptInput{Name: "x", Body: testKey})
	errs = append(errs, err)
	_, err = c.UpdateScript(context.Background(), "s1", remote.ScriptInput{Name: "x"})
	errs = append(errs, err)
	errs = append(errs, c.DeleteScript(context.Background(), "s1"))
	_, err = c.GetScript(context.Background(), testKey)
	errs = append(errs, err)
	_, err = c.ListTemplates(context.Background())
	errs = append(errs, err)
	if got, _ := elsewhereAuth.Load().(string); got != "" {
		t.Errorf("the redirect target received Authorization %q", got)
	}
	for i, err := range errs[:4] {
		if err == nil {
			t.Fatalf("call %d: no error", i)
		}
		var e *remote.Error
		if !errors.As(err, &e) {
			t.Fatalf("call %d: %T is not a *remote.Error", i, err)
		}
		dump := fmt.Sprintf("%v %+v %#v", err, e, e)
		for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
			dump += u.Error()
		}
		if strings.Contains(dump, testKey) {
			t.Errorf("call %d: the key is in the error: %s", i, dump)
		}
		if !strings.Contains(err.Error(), "[REDACTED]") && i != 1 {
			t.Errorf("call %d: %v: want the echoed key shown as [REDACTED]", i, err)
		}
	}
	if debug.Len() == 0 {
		t.Fatal("no debug output")
	}
	for _, line := range strings.Split(strings.TrimSpace(debug.String()), "\n") {
		if strings.Contains(line, testKey) {
			t.Errorf("debug line has the key: %s", line)
		}
	}
}

// One debug line per attempt: method, path, status, attempt, duration.
func TestDebugLog(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeJSON(w, 502, `{"code":"INTERNAL_SERVER_ERROR","message":"x"}`)
			return
		}
		writeJSON(w, 200, `{"id":"s1","name":"a"}`)
	})
	var debug bytes.Buffer
	c := f.client(t, func(c *remote.Config) { c.Debug = &debug })
	if _, err := c.GetScript(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(debug.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("debug lines:\n%s\nwant 2", debug.String())
	}
	for i, want := range []string{"psync: GET /v1/startup-scripts/s1 -> 502 (attempt 1, ", "psync: GET /v1/startup-scripts/s1 -> 200 (attempt 2, "} {
		if !strings.HasPrefix(lines[i], want) || !strings.HasSuffix(lines[i], ")") {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want)
		}
	}
}

// A create whose answer is lost after the write is looked up by name and
// not made again; one whose POST never took effect is sent again.
func TestCreateAmbiguous(t *testing.T) {
	type obj struct{ id, name string }
	for _, tc := range []struct {
		name      string
		wrote     bool // the failing POST did the write
		posts     int
		wantError string
		preexist  int
		fetch     bool
	}{
		{name: "write happened", wrote: true, posts: 1},
		{name: "write did not happen", wrote: false, posts: 2},
		{name: "duplicates already", wrote: true, posts: 1, preexist: 1, wantError: `after an ambiguous failure, 2 objects named "deploy" exist (new1, old0)`},
		// One of that name existed at Fetch time: it cannot be the one
		// this create made.
		{name: "older one fetched", wrote: true, posts: 1, preexist: 1, fetch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var objs []obj
			for i := range tc.preexist {
				objs = append(objs, obj{fmt.Sprintf("old%d", i), "deploy"})
			}
			posts := 0
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				mu.Lock()
				defer mu.Unlock()
				switch r.Method {
				case http.MethodPost:
					posts++
					if posts == 1 {
						if tc.wrote {
							objs = append(objs, obj{"new1", "deploy"})
						}
						writeJSON(w, 500, `{"code":"INTERNAL_SERVER_ERROR","message":"lost"}`)
						return
					}
					objs = append(objs, obj{fmt.Sprintf("new%d", posts), "deploy"})
					writeJSON(w, 201, fmt.Sprintf(`{"id":"new%d","name":"deploy","runOnce":false,"isEnabled":true}`, posts))
				case http.MethodGet:
					switch r.URL.Path {
					case "/v1/startup-scripts":
					case "/v1/auth/session":
						writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no route"}`)
						return
					default:
						writeJSON(w, 200, `[]`)
						return
					}
					// A name filter that matches partially, as the live
					// API's may: the client must compare exactly.
					var items []string
					for _, o := range objs {
						items = append(items, fmt.Sprintf(`{"id":%q,"name":%q,"runOnce":false,"isEnabled":true}`, o.id, o.name))
					}
					items = append(items, `{"id":"other","name":"deploy-2","runOnce":false,"isEnabled":true}`)
					writeJSON(w, 200, "["+strings.Join(items, ",")+"]")
				}
			})
			c := f.client(t)
			if tc.fetch {
				if _, err := c.Fetch(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			before := len(f.requests())
			got, err := c.CreateScript(context.Background(), remote.ScriptInput{Name: "deploy", Body: "echo", IsEnabled: true})
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("got %v, want %q", err, tc.wantError)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got.Name != "deploy" || got.ID != fmt.Sprintf("new%d", tc.posts) {
				t.Errorf("got %+v", got)
			}
			if posts != tc.posts {
				t.Errorf("%d POSTs, want %d", posts, tc.posts)
			}
			if want := tc.preexist + 1; len(objs) != want {
				t.Errorf("%d objects, want %d", len(objs), want)
			}
			reqs := f.requests()[before:]
			if len(reqs) < 2 || !strings.HasPrefix(reqs[1], "GET /v1/startup-scripts?") || !strings.Contains(reqs[1], "name=deploy") {
				t.Errorf("requests %q: want a list by name right after the failed POST", reqs)
			}
		})
	}
}

// A 429 on a create was not processed: it is retried directly, without a
// lookup.
func TestCreateThrottledRetriedDirectly(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeJSON(w, 429, `{"code":"TOO_MANY_REQUESTS","message":"slow"}`)
			return
		}
		writeJSON(w, 201, `{"id":"c9","name":"ml","machineId":"psbox001","note":"x"}`)
	})
	got, err := f.client(t).CreateTemplate(context.Background(), remote.TemplateInput{Name: "ml", MachineID: "psbox001", Note: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(remote.Template{ID: "c9", Name: "ml", MachineID: "psbox001", Note: "x"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"POST /v1/custom-templates", "POST /v1/custom-templates"}, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// The live dialect creates templates asynchronously: the event is polled
// until done, and an error event is an error.
func TestCreateTemplateLiveEvent(t *testing.T) {
	for _, final := range []string{api.EventDone, api.EventError} {
		t.Run(final, func(t *testing.T) {
			polls := 0
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				switch {
				case r.Method == http.MethodPost:
					var body map[string]any
					json.NewDecoder(r.Body).Decode(&body)
					if _, ok := body["note"]; ok {
						t.Errorf("live create body has a note: %v", body)
					}
					writeJSON(w, 200, `{"data":{"id":"c1","name":"ml","parentMachineId":"psbox001"},"event":{"id":"ev1","name":"template-create","state":"new"}}`)
				case r.URL.Path == "/v1/machine-events/ev1":
					polls++
					state := "in progress"
					if polls == 3 {
						state = final
					}
					writeJSON(w, 200, fmt.Sprintf(`{"id":"ev1","name":"template-create","state":%q,"error":null}`, state))
				case r.URL.Path == "/v1/custom-templates":
					writeJSON(w, 200, `{"items":[],"hasMore":false,"nextPage":null}`)
				default:
					writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no"}`)
				}
			})
			c := f.client(t, func(c *remote.Config) { c.PollInterval = time.Millisecond })
			if _, err := c.ListTemplates(context.Background()); err != nil {
				t.Fatal(err)
			}
			if c.Dialect() != remote.DialectPaperspaceV1 {
				t.Fatalf("dialect %q", c.Dialect())
			}
			got, err := c.CreateTemplate(context.Background(), remote.TemplateInput{Name: "ml", MachineID: "psbox001", Note: "n"})
			if final == api.EventError {
				want := `create template "ml" (c1): the API's template-create event ended error (the API gave no reason)`
				if err == nil || err.Error() != want {
					t.Fatalf("got %v, want %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(remote.Template{ID: "c1", Name: "ml", MachineID: "psbox001"}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if polls != 3 {
				t.Errorf("%d polls, want 3", polls)
			}
		})
	}
}

// The progress an asynchronous creation reports says how far the event has
// come, not which object it is: the caller's progress line already names
// the change (apply's text output showed `template "ml": template "ml": new`).
func TestCreateTemplateLiveProgress(t *testing.T) {
	polls := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.Method == http.MethodPost:
			writeJSON(w, 200, `{"data":{"id":"c1","name":"ml","parentMachineId":"psbox001"},"event":{"id":"ev1","name":"template-create","state":"new"}}`)
		case r.URL.Path == "/v1/machine-events/ev1":
			polls++
			state := "in progress"
			if polls == 2 {
				state = api.EventDone
			}
			writeJSON(w, 200, fmt.Sprintf(`{"id":"ev1","name":"template-create","state":%q,"error":null}`, state))
		default:
			writeJSON(w, 200, `{"items":[],"hasMore":false,"nextPage":null}`)
		}
	})
	c := f.client(t, func(c *remote.Config) { c.PollInterval = time.Millisecond })
	if _, err := c.ListTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	ctx := remote.WithProgress(context.Background(), func(msg string) {
		got = append(got, msg)
	})
	if _, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: "ml", MachineID: "psbox001"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"new (0s)", "in progress (0s)", "done (0s)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
}

// The live create takes isRunOnce and no isEnabled: a disabled script is
// created, then updated.
func TestCreateScriptLive(t *testing.T) {
	var bodies []string
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			bodies = append(bodies, r.Method+" "+string(b))
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, 200, `{"items":[],"hasMore":false,"nextPage":null}`)
		case http.MethodPost:
			writeJSON(w, 200, `{"id":"s1","name":"a","isEnabled":true,"isRunOnce":true,"assignedMachineIds":[]}`)
		case http.MethodPut:
			writeJSON(w, 200, `{"id":"s1","name":"a","isEnabled":false,"isRunOnce":true,"assignedMachineIds":[]}`)
		}
	})
	c := f.client(t)
	if _, err := c.ListScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := c.CreateScript(context.Background(), remote.ScriptInput{Name: "a", Body: "echo", RunOnce: true, IsEnabled: false})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(remote.Script{ID: "s1", Name: "a", RunOnce: true}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	want := []string{
		`POST {"name":"a","script":"echo","isRunOnce":true}`,
		`PUT {"name":"a","script":"echo","isEnabled":false,"isRunOnce":true}`,
	}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
}

func TestSessionNoRoute(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no route"}`)
	})
	team, err := f.client(t).Session(context.Background())
	if team != "" || err != nil {
		t.Errorf("Session() = %q, %v; want \"\", nil", team, err)
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFake(t, nil)
	c, err := remote.New(remote.Config{BaseURL: f.srv.URL + "/v1", APIKey: "wrong-key-123", BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background())
	var e *remote.Error
	if !errors.As(err, &e) || e.Status != 401 || strings.Contains(err.Error(), "wrong-key-123") {
		t.Fatalf("got %v, want a redacted 401", err)
	}
}

func TestCanceledNotRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		<-r.Context().Done()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.client(t).ListScripts(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestAssignErrors(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 404, `{"code":"NOT_FOUND","message":"machine \"psbox099\" not found"}`)
	})
	err := f.client(t).UnassignScript(context.Background(), "s1", "psbox099")
	want := `unassign script s1 from machine psbox099: 404 NOT_FOUND: machine "psbox099" not found`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// A key echoed where an excerpt of the body is cut is still not shown,
// not even in part.
func TestKeyNotCutInHalf(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(403)
		io.WriteString(w, strings.Repeat(".", 185)+r.Header.Get("Authorization"))
	})
	_, err := f.client(t).GetScript(context.Background(), "s1")
	if err == nil || strings.Contains(err.Error(), testKey[:8]) {
		t.Fatalf("got %v, want no part of the key", err)
	}
}

// The client's own share of a large list: 10,000 scripts served from a
// canned body, so the server costs nothing.
func BenchmarkListScriptsClientOnly(b *testing.B) {
	items := make([]string, 10_000)
	for i := range items {
		items[i] = fmt.Sprintf(`{"id":"scr_%08d","name":"script-%05d","runOnce":false,"isEnabled":true,"teamId":"team-sandbox","dtCreated":"2026-01-01T00:00:00Z"}`, i, i)
	}
	body := []byte("[" + strings.Join(items, ",") + "]")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	c, err := remote.New(remote.Config{BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.ListScripts(context.Background())
		if err != nil || len(s) != 10_000 {
			b.Fatal(len(s), err)
		}
	}
}

// A client that writes before it has listed anything asks for one OS
// template to learn which bodies to write.
func TestWriteDetectsDialect(t *testing.T) {
	for _, tc := range []struct {
		list string
		want string
	}{
		{`[{"id":"o1","name":"u"}]`, `{"name":"a","script":"echo","runOnce":false,"isEnabled":true}`},
		{`{"items":[{"id":"o1","name":"u"}],"hasMore":true,"nextPage":"x"}`, `{"name":"a","script":"echo","isRunOnce":false}`},
	} {
		var body string
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if r.Method == http.MethodGet {
				writeJSON(w, 200, tc.list)
				return
			}
			b, _ := io.ReadAll(r.Body)
			body = string(b)
			writeJSON(w, 200, `{"id":"s1","name":"a","isEnabled":true}`)
		})
		c := f.client(t, func(c *remote.Config) { c.Dialect = "" })
		if _, err := c.CreateScript(context.Background(), remote.ScriptInput{Name: "a", Body: "echo", IsEnabled: true}); err != nil {
			t.Fatal(err)
		}
		if body != tc.want {
			t.Errorf("after %s: body %s, want %s", tc.list, body, tc.want)
		}
		if diff := cmp.Diff([]string{"GET /v1/os-templates?limit=1", "POST /v1/startup-scripts"}, f.requests()); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	}
}

func TestPrintingHidesKey(t *testing.T) {
	cfg := remote.Config{BaseURL: "https://api.paperspace.com/v1", APIKey: testKey}
	c, err := remote.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v %#v", cfg, cfg), fmt.Sprintf("%v %+v %#v", c, c, c), fmt.Sprintf("%+v", &cfg)} {
		if strings.Contains(s, testKey) {
			t.Errorf("the key is in %s", s)
		}
	}
}

// A caller that gives up while the client waits between attempts gets an
// error that says so (errors.Is context.Canceled), not only the last
// attempt's failure: psync exits 130 on Ctrl-C, not 1 with "connection
// refused".
func TestCancelWhileWaitingToRetry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create bool
		down   bool // nothing listens: network errors
		want   string
	}{
		{"list, 503", false, false, "down for maintenance"},
		{"create, 503", true, false, "down for maintenance"},
		{"list, refused", false, true, "connection refused"},
		{"create, refused", true, true, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", "60")
				writeJSON(w, 503, `{"code":"SERVICE_UNAVAILABLE","message":"down for maintenance"}`)
			})
			c := f.client(t, func(c *remote.Config) {
				c.MaxRetryTime = 10 * time.Minute
				c.BackoffBase, c.BackoffMax = time.Minute, time.Minute
			})
			if tc.down {
				f.srv.Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			var err error
			if tc.create {
				_, err = c.CreateScript(ctx, remote.ScriptInput{Name: "a", Body: "echo"})
			} else {
				_, err = c.ListScripts(ctx)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want an error that is context.Canceled", err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want the last failure (%q) kept", err, tc.want)
			}
		})
	}
}

// A list answered 404 means the base URL is wrong (a list always exists
// at the right one, empty or not): the error says to check it, most often
// a missing /v1. A bare "404 NOT_FOUND: no route" left users guessing.
func TestListNotFoundNamesTheURL(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no route GET /startup-scripts"}`)
	})
	c := f.client(t)
	_, err := c.ListScripts(context.Background())
	if !remote.IsNotFound(err) {
		t.Fatalf("got %v, want a not-found error", err)
	}
	want := fmt.Sprintf(`list scripts: 404 NOT_FOUND: no route GET /startup-scripts; is the API URL %s/v1 right? Paperspace's is https://api.paperspace.com/v1`, f.srv.URL)
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	// A 404 for one object is about the object, not the URL.
	if _, err := c.GetScript(context.Background(), "s1"); err == nil || strings.Contains(err.Error(), "API URL") {
		t.Errorf("get: %v", err)
	}
}

// Concurrent requests reuse their connections: an apply at parallelism 32
// must not dial (and, against the real API, handshake TLS) for most of its
// requests because the transport keeps only two idle connections per host.
func TestClientReusesConnections(t *testing.T) {
	var dials atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := remote.New(remote.Config{BaseURL: srv.URL, APIKey: testKey, Dialect: remote.DialectSpec})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 32, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := c.DeleteScript(context.Background(), fmt.Sprintf("scr_%d_%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := dials.Load(); n > 2*workers {
		t.Errorf("%d connections for %d requests from %d workers; want at most %d", n, workers*each, workers, 2*workers)
	}
}

// Failures that trying again cannot mend fail at the first attempt, not
// after the whole retry budget: https to a server that speaks http, a
// certificate that does not verify.
func TestPermanentNetworkErrorsAreNotRetried(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	plain := httptest.NewServer(handler)
	defer plain.Close()
	selfSigned := httptest.NewTLSServer(handler)
	defer selfSigned.Close()
	for name, tc := range map[string]struct{ url, want string }{
		"https to an http server": {strings.Replace(plain.URL, "http://", "https://", 1), "server gave HTTP response to HTTPS client"},
		"untrusted certificate":   {selfSigned.URL, "certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			// A backoff of minutes: a wait before giving up (or before a
			// retry) shows as tens of seconds, which no load on the
			// machine makes of a TLS handshake; the deadline bounds it.
			c, err := remote.New(remote.Config{BaseURL: tc.url, APIKey: testKey, Dialect: remote.DialectSpec, BackoffBase: 10 * time.Minute, BackoffMax: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			err = c.DeleteScript(ctx, "scr_1")
			var re *remote.Error
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DeleteScript = %v, want an error mentioning %q", err, tc.want)
			}
			if re.Attempts != 1 {
				t.Errorf("%d attempts, want 1: %v", re.Attempts, err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s: it waited to retry", d)
			}
		})
	}
}
