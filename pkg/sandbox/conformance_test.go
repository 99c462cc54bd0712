package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/psync-dev/psync/pkg/api"
)

// conformance checks every exchange the tests make against api/openapi.yaml:
//   - a request the spec accepts must get a status the spec defines for the
//     operation and a body matching its schema, or an error status with an
//     api.Error body (the spec defines no error responses);
//   - a request the spec rejects must be refused: 401 when it lacks the
//     bearer key, else 400 or 413 (or 401 for a key that is not valid);
//   - a path the spec does not have must get 404 or 405 with an api.Error.
//
// An error status that the document describes (as a default response, in
// the paperspace-v1 document) is validated against it too.
//
// /_sandbox/ endpoints are not part of the spec and are skipped.
type conformance struct {
	path   string
	router routers.Router

	mu         sync.Mutex
	violations []string
	exchanges  int
	covered    map[string]bool // operationId -> answered with a spec status
	operations []string
}

const specHost = "sandbox.test"

func newConformance(specPath string) (*conformance, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the spec is not valid: %w", err)
	}
	// Requests are matched with their host replaced, so one router serves
	// every test server.
	doc.Servers = openapi3.Servers{{URL: "http://" + specHost + "/v1"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	c := &conformance{path: specPath, router: router, covered: map[string]bool{}}
	for _, p := range doc.Paths.Map() {
		for _, op := range p.Operations() {
			c.operations = append(c.operations, op.OperationID)
		}
	}
	sort.Strings(c.operations)
	return c, nil
}

func (c *conformance) violate(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// uncovered returns the operations no exchange exercised successfully.
func (c *conformance) uncovered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, op := range c.operations {
		if !c.covered[op] {
			out = append(out, op)
		}
	}
	return out
}

// transport wraps next so that every exchange is checked.
func (c *conformance) transport(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		var reqBody []byte
		if req.Body != nil {
			var err error
			if reqBody, err = io.ReadAll(req.Body); err != nil {
				return nil, err
			}
			req.Body.Close()
			req.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err // no exchange to check (e.g. a dropped connection)
		}
		respBody, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		if err != nil {
			return resp, nil
		}
		c.check(req, reqBody, resp, respBody)
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *conformance) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	if strings.HasPrefix(req.URL.Path, "/v1/_sandbox/") {
		return
	}
	c.mu.Lock()
	c.exchanges++
	c.mu.Unlock()
	what := fmt.Sprintf("%s %s -> %d", req.Method, req.URL.RequestURI(), resp.StatusCode)

	vreq := req.Clone(context.Background())
	u := *req.URL
	u.Scheme, u.Host = "http", specHost
	vreq.URL, vreq.Host = &u, specHost
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))

	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			c.violate("%s: the spec has no such operation (%v), want 404 or 405", what, err)
		}
		c.checkError(what, resp, respBody)
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			MultiError: true,
			AuthenticationFunc: func(_ context.Context, ai *openapi3filter.AuthenticationInput) error {
				h := ai.RequestValidationInput.Request.Header.Get("Authorization")
				if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") || strings.TrimSpace(h[7:]) == "" {
					return errors.New("no bearer key")
				}
				return nil
			},
		},
	}
	if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil {
		// The spec rejects this request: the sandbox must too. A wrong
		// key (which the spec cannot see) is refused before anything else.
		var secErr *openapi3filter.SecurityRequirementsError
		want := []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnauthorized}
		if errors.As(reqErr, &secErr) {
			want = []int{http.StatusUnauthorized}
		} else if strings.Contains(reqErr.Error(), " in path ") {
			want = []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized}
		}
		if !containsInt(want, resp.StatusCode) {
			c.violate("%s: the spec rejects the request (%v), want status %v", what, firstLine(reqErr), want)
		}
		c.checkError(what, resp, respBody)
		return
	}
	defined := route.Operation.Responses.Value(fmt.Sprint(resp.StatusCode)) != nil
	if !defined && resp.StatusCode >= 400 && route.Operation.Responses.Default() != nil {
		// An error the document describes only as its default response.
		c.checkError(what, resp, respBody)
		defined = true
	}
	if !defined {
		if resp.StatusCode < 400 {
			c.violate("%s: status %d is not defined by the spec for %s", what, resp.StatusCode, route.Operation.OperationID)
		}
		c.checkError(what, resp, respBody)
		return
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.violate("%s: response does not match the spec: %v", what, err)
		return
	}
	if resp.StatusCode < 300 {
		c.mu.Lock()
		c.covered[route.Operation.OperationID] = true
		c.mu.Unlock()
	}
}

// checkError requires an error answer to carry an api.Error.
func (c *conformance) checkError(what string, resp *http.Response, body []byte) {
	if resp.StatusCode < 400 {
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.violate("%s: error Content-Type %q, want application/json", what, ct)
	}
	var e api.Error
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Code == "" || e.Message == "" {
		c.violate("%s: error body %q is not an api.Error with a code and a message (%v)", what, body, err)
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// withQuery is a helper for list URLs.
func withQuery(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return path + "?" + q.Encode()
}

// TestConformanceCatchesViolations feeds the checker exchanges that break
// the spec, to show it would notice.
func TestConformanceCatchesViolations(t *testing.T) {
	c, err := newConformance("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	auth := http.Header{"Authorization": {"Bearer k"}, "Content-Type": {"application/json"}}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	for _, x := range []struct {
		method, path, reqBody string
		header                http.Header
		status                int
		respBody              string
		violates              bool
	}{
		{"GET", "/v1/startup-scripts", "", auth, 200, `[{"id":"a","name":"n","runOnce":false,"isEnabled":true,"dtCreated":"2026-01-01T00:00:00Z"}]`, false},
		{"GET", "/v1/startup-scripts", "", auth, 200, `[{"id":5}]`, true},
		{"GET", "/v1/startup-scripts", "", auth, 200, `{"items":[]}`, true},
		{"GET", "/v1/startup-scripts/x", "", auth, 200, `{"id":"x","dtCreated":"yesterday"}`, true},
		{"POST", "/v1/startup-scripts", `{"name":"n","script":"s"}`, auth, 200, `{"id":"x"}`, true},
		{"POST", "/v1/startup-scripts", `{"name":"n","script":"s"}`, auth, 201, `{"id":"x"}`, false},
		{"POST", "/v1/startup-scripts", `{"name":"n"}`, auth, 201, `{"id":"x"}`, true},
		{"POST", "/v1/startup-scripts", `{"name":"n"}`, auth, 400, `{"code":"BAD_REQUEST","message":"m"}`, false},
		{"POST", "/v1/startup-scripts", `{"name":"n"}`, auth, 400, `oops`, true},
		{"GET", "/v1/startup-scripts", "", jsonH, 200, `[]`, true},
		{"GET", "/v1/startup-scripts", "", jsonH, 401, `{"code":"UNAUTHORIZED","message":"m"}`, false},
		{"GET", "/v1/os-templates?limit=500", "", auth, 200, `[]`, true},
		{"DELETE", "/v1/custom-templates/x", "", auth, 200, ``, true},
		{"GET", "/v1/machines", "", auth, 200, `[]`, true},
		{"GET", "/v1/machines", "", auth, 404, `{"code":"NOT_FOUND","message":"m"}`, false},
	} {
		req, _ := http.NewRequest(x.method, "http://127.0.0.1:1"+x.path, strings.NewReader(x.reqBody))
		req.Header = x.header
		resp := &http.Response{StatusCode: x.status, Header: jsonH}
		before := len(c.violations)
		c.check(req, []byte(x.reqBody), resp, []byte(x.respBody))
		if got := len(c.violations) > before; got != x.violates {
			t.Errorf("%s %s %s -> %d %s: violation %v, want %v (%v)", x.method, x.path, x.reqBody, x.status, x.respBody, got, x.violates, c.violations[before:])
		}
	}
}

// TestLiveDocumentIsLoose: api/paperspace-v1.yaml describes the live API's
// loose answers (dtDeleted a date, null, absent or {}; a nullable
// defaultSizeGb; nextPage optional; a null session; an open error code;
// issue paths with numbers) and still refuses what the live API never
// sends.
func TestLiveDocumentIsLoose(t *testing.T) {
	c, err := newConformance("../../api/paperspace-v1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	auth := http.Header{"Authorization": {"Bearer k"}, "Content-Type": {"application/json"}}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	script := func(extra string) string {
		return `{"id":"s","name":"n","description":null,"isEnabled":true,"isRunOnce":false,"assignedMachineIds":[],"dtCreated":"2026-01-01T00:00:00Z"` + extra + `}`
	}
	for _, x := range []struct {
		method, path, reqBody string
		status                int
		respBody              string
		violates              bool
	}{
		{"GET", "/v1/startup-scripts/s", "", 200, script(``), false},
		{"GET", "/v1/startup-scripts/s", "", 200, script(`,"dtDeleted":null`), false},
		{"GET", "/v1/startup-scripts/s", "", 200, script(`,"dtDeleted":"2026-01-02T00:00:00Z"`), false},
		{"GET", "/v1/startup-scripts/s", "", 200, script(`,"dtDeleted":{}`), false},
		{"GET", "/v1/startup-scripts/s", "", 200, script(`,"dtDeleted":{"a":1}`), true},
		{"GET", "/v1/startup-scripts/s", "", 200, script(`,"dtDeleted":5`), true},
		{"GET", "/v1/startup-scripts", "", 200, `{"items":[],"hasMore":false}`, false},
		{"GET", "/v1/startup-scripts", "", 200, `{"items":[],"hasMore":false,"nextPage":null}`, false},
		{"GET", "/v1/startup-scripts", "", 200, `{"items":[]}`, true},
		{"GET", "/v1/os-templates", "", 200, `{"items":[{"id":"o","name":"n","defaultSizeGb":null,"availableMachineTypes":[],"dtCreated":"2026-01-01T00:00:00Z"}],"hasMore":false}`, false},
		{"GET", "/v1/auth/session", "", 200, `null`, false},
		{"GET", "/v1/auth/session", "", 200, `{"team":{"id":"t"}}`, false},
		{"GET", "/v1/auth/session", "", 200, `{"user":{}}`, true},
		{"GET", "/v1/machine-events/e", "", 200, `{"id":"e","name":"machine-start","state":"done","error":null,"machineId":null,"dtCreated":"2026-01-01T00:00:00Z","dtStarted":null,"dtFinished":"2026-01-01T00:01:00Z"}`, false},
		{"GET", "/v1/machine-events/e", "", 200, `{"id":"e","name":"template-create","state":"finished","error":null,"machineId":"m","dtCreated":"2026-01-01T00:00:00Z","dtStarted":null,"dtFinished":null}`, true},
		{"POST", "/v1/startup-scripts", `{"name":"n"}`, 400, `{"code":"SOMETHING_NEW","message":"m","issues":[{"message":"Required","path":["items",0,"name"]}]}`, false},
		{"POST", "/v1/startup-scripts", `{"name":"n"}`, 400, `{"code":"BAD_REQUEST","message":"m","issues":[{"message":"Required","path":[true]}]}`, true},
	} {
		req, _ := http.NewRequest(x.method, "http://127.0.0.1:1"+x.path, strings.NewReader(x.reqBody))
		req.Header = auth
		resp := &http.Response{StatusCode: x.status, Header: jsonH}
		before := len(c.violations)
		c.check(req, []byte(x.reqBody), resp, []byte(x.respBody))
		if got := len(c.violations) > before; got != x.violates {
			t.Errorf("%s %s -> %d %s: violation %v, want %v (%v)", x.method, x.path, x.status, x.respBody, got, x.violates, c.violations[before:])
		}
	}
}
