package remote_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/remote"
)

// TestRedirects: a redirect within the API's origin is followed and logged
// hop by hop; one to another scheme, host or port, or from https to http,
// is refused with an error naming both URLs (never the key), and a body is
// never sent across origins.
func TestRedirects(t *testing.T) {
	// elsewhere records what reaches a server the API must never send to.
	var elsewhereHits atomic.Int32
	var elsewhereBody atomic.Value
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereHits.Add(1)
		b, _ := io.ReadAll(r.Body)
		elsewhereBody.Store(string(b) + r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[]`))
	}))
	defer elsewhere.Close()

	tests := []struct {
		name    string
		tls     bool
		to      func(self string) string // the Location, given the API's own URL
		wantErr string                   // "" means followed
	}{
		{"same origin", false, func(self string) string { return self + "/v1/moved" }, ""},
		{"other port", false, func(string) string { return elsewhere.URL + "/v1/startup-scripts" }, "within the API's own scheme, host and port"},
		{"other host", false, func(self string) string {
			return strings.Replace(self, "127.0.0.1", "localhost", 1) + "/v1/startup-scripts"
		}, "within the API's own scheme, host and port"},
		{"https to http", true, func(string) string { return elsewhere.URL + "/v1/startup-scripts" }, "never follows https to plain http"},
		{"key in the target", false, func(string) string { return elsewhere.URL + "/steal?k=" + hostileKey }, "refused a redirect"},
		{"loop", false, func(self string) string { return self + "/v1/startup-scripts" }, "more than 5 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elsewhereHits.Store(0)
			var self string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v1/moved" {
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`[{"id":"s1","name":"a"}]`))
					return
				}
				if r.Method == http.MethodPost {
					w.Header().Set("Location", tt.to(self))
					w.WriteHeader(http.StatusTemporaryRedirect) // 307: the body would be sent again
					return
				}
				http.Redirect(w, r, tt.to(self), http.StatusFound)
			})
			var srv *httptest.Server
			if tt.tls {
				srv = httptest.NewTLSServer(h)
			} else {
				srv = httptest.NewServer(h)
			}
			defer srv.Close()
			self = srv.URL
			hc := srv.Client()
			if tt.tls {
				hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
			}
			var debug strings.Builder
			c, err := remote.New(remote.Config{BaseURL: srv.URL + "/v1", APIKey: hostileKey, HTTPClient: hc, MaxAttempts: 3,
				BackoffBase: time.Millisecond, Debug: &debug})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.ListScripts(context.Background())
			if tt.wantErr == "" {
				if err != nil || len(got) != 1 {
					t.Fatalf("got %v, %v; want the script behind the redirect", got, err)
				}
				if !strings.Contains(debug.String(), "302, redirected to /v1/moved") {
					t.Errorf("debug log does not show the hop:\n%s", debug.String())
				}
				return
			}
			if err == nil {
				t.Fatal("the redirect was followed")
			}
			var re *remote.RedirectError
			if !errors.As(err, &re) {
				t.Errorf("error %v is not a *RedirectError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) || !strings.Contains(msg, srv.URL+"/v1/startup-scripts") {
				t.Errorf("error %q does not say %q naming both URLs", msg, tt.wantErr)
			}
			if strings.Contains(msg+debug.String(), "Kq7") {
				t.Errorf("the key leaks: %q", msg)
			}
			if strings.Contains(msg, "[after") {
				t.Errorf("a refused redirect was retried: %q", msg)
			}
			// A create: the body must not reach the other origin either.
			_, err = c.CreateScript(context.Background(), remote.ScriptInput{Name: "a", Body: "echo secret-body", IsEnabled: true})
			if err == nil {
				t.Error("create: the redirect was followed")
			}
			if n := elsewhereHits.Load(); n != 0 {
				t.Errorf("%d requests reached the other origin (last: %v)", n, elsewhereBody.Load())
			}
		})
	}
}

// TestRedirectHopIsLoggedEscaped: the --debug line of a hop shows the
// Location the API chose with its control, C1 and bidirectional
// characters escaped (url.Parse keeps them raw in a query).
func TestRedirectHopIsLoggedEscaped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/moved" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`[{"id":"s1","name":"a"}]`))
			return
		}
		w.Header().Set("Location", "/v1/moved?x=\u202e\u009b2J\x9b2J")
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	var debug strings.Builder
	c, err := remote.New(remote.Config{BaseURL: srv.URL + "/v1", APIKey: hostileKey, HTTPClient: srv.Client(), Debug: &debug})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := debug.String()
	if !strings.Contains(log, "redirected to /v1/moved") {
		t.Fatalf("the hop is not logged:\n%s", log)
	}
	if strings.ContainsAny(log, "\u202e\u009b") || strings.Contains(log, "\x9b") {
		t.Errorf("the debug log holds the Location's characters raw:\n%q", log)
	}
}

// TestBaseURLErrorsQuoteNoQuery: an API URL refused for its query or
// fragment (a pasted URL with a token in it) is named without them.
func TestBaseURLErrorsQuoteNoQuery(t *testing.T) {
	for _, raw := range []string{"https://proxy.example/v1?token=tok_s3cr3t", "https://proxy.example/v1#tok_s3cr3t", "ftp://proxy.example/v1?token=tok_s3cr3t"} {
		_, err := remote.ParseBaseURL(raw, false)
		if err == nil {
			t.Fatalf("ParseBaseURL(%q) accepted it", raw)
		}
		if strings.Contains(err.Error(), "tok_s3cr3t") {
			t.Errorf("ParseBaseURL(%q): %v quotes the query", raw, err)
		}
	}
}
