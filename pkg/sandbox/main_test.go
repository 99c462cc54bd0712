package sandbox_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// spec and live check every exchange of every test (see conformance):
// spec against api/openapi.yaml for the spec dialect, live against
// api/paperspace-v1.yaml for the paperspace-v1 dialect.
var spec, live *conformance

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		runChild(dir) // the crash test's child process; never returns
	}
	flag.Parse()
	var err error
	if spec, err = newConformance("../../api/openapi.yaml"); err != nil {
		fmt.Fprintln(os.Stderr, "load spec:", err)
		os.Exit(2)
	}
	if live, err = newConformance("../../api/paperspace-v1.yaml"); err != nil {
		fmt.Fprintln(os.Stderr, "load live spec:", err)
		os.Exit(2)
	}
	code := m.Run()
	for _, c := range []*conformance{spec, live} {
		if len(c.violations) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d exchanges violate %s:\n", len(c.violations), c.path)
			for _, v := range c.violations {
				fmt.Fprintln(os.Stderr, "  "+v)
			}
			code = 1
		}
		// With the whole suite run, every operation must have been exercised.
		if f := flag.Lookup("test.run"); code == 0 && f != nil && f.Value.String() == "" {
			if un := c.uncovered(); len(un) > 0 {
				fmt.Fprintf(os.Stderr, "FAIL: operations of %s never answered with a success: %v\n", c.path, un)
				code = 1
			}
		}
		if code == 0 && testing.Verbose() {
			fmt.Printf("conformance: %d API exchanges checked against %s, 0 violations\n", c.exchanges, c.path)
		}
	}
	os.Exit(code)
}

// env is a sandbox served by httptest with a client whose every exchange is
// checked against the spec.
type env struct {
	t      *testing.T
	srv    *sandbox.Server
	url    string // with /v1
	key    string // the first team's key
	client *http.Client
}

func newEnv(t *testing.T, cfg sandbox.Config) *env {
	t.Helper()
	s, err := sandbox.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e := attach(t, s, hs.URL+"/v1")
	if cfg.Dialect == sandbox.DialectPaperspace1 {
		e.client.Transport = live.transport(http.DefaultTransport)
	}
	return e
}

// attach makes an env for a sandbox serving at url; s may be nil when it
// runs elsewhere (then set key).
func attach(t *testing.T, s *sandbox.Server, url string) *env {
	keys := map[string]string{}
	if s != nil {
		keys = s.Keys()
	}
	first := ""
	for team := range keys {
		if first == "" || team < first {
			first = team
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &env{t: t, srv: s, url: url, key: keys[first], client: &http.Client{Transport: spec.transport(tr), Timeout: 30 * time.Second}}
}

// unchecked returns a copy of e whose requests skip the spec check, for
// bulk loops whose exchanges are all alike (the first ones are checked).
func (e *env) unchecked() *env {
	c := *e
	c.client = &http.Client{Transport: http.DefaultTransport, Timeout: e.client.Timeout}
	return &c
}

// resp is an answer, read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends method path with body (nil: none; []byte or string: raw;
// anything else: JSON) as key ("" sends no Authorization).
func (e *env) do(key, method, path string, body any) resp {
	e.t.Helper()
	r, err := e.try(key, method, path, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (e *env) try(key, method, path string, body any) (resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := e.client.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}, nil
}

// call sends a request as e.key, requires status want and decodes the body
// into out (when not nil).
func (e *env) call(method, path string, body any, want int, out any) resp {
	e.t.Helper()
	r := e.do(e.key, method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// apiErr requires r to be an error answer with status and code, and
// returns it.
func apiErr(t *testing.T, r resp, status int, code string) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if r.status != status || e.Code != code || e.Message == "" {
		t.Fatalf("got %d %s %q, want %d %s with a message", r.status, e.Code, e.Message, status, code)
	}
	return e
}

func (e *env) dump(key string) sandbox.Dump {
	e.t.Helper()
	var d sandbox.Dump
	r := e.do(key, "GET", "/_sandbox/dump", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("dump: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) createScript(name, body string) api.StartupScript {
	e.t.Helper()
	var s api.StartupScript
	e.call("POST", "/startup-scripts", api.StartupScriptCreate{Name: name, Script: body}, http.StatusCreated, &s)
	return s
}

func ptr[T any](v T) *T { return &v }

func newHTTPTestServer(s *sandbox.Server) *httptest.Server { return httptest.NewServer(s.Handler()) }

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
