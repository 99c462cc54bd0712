package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/psync-dev/psync/pkg/api"
)

// errKeyInAnswer refuses a 2xx answer that holds the API key.
var errKeyInAnswer = errors.New("the API's answer contains the API key (in some encoding): psync refuses to use it, so that the key is never printed or written to the state or a plan (is something between psync and the API echoing the request?)")

// request is one API operation, possibly sent several times.
type request struct {
	op     op
	method string
	path   string // below the base URL, e.g. "/startup-scripts"
	query  url.Values
	body   []byte // JSON; nil for none
	// create marks a request that must not be repeated blindly (a create,
	// a live assign): an ambiguous failure is handed back to the caller
	// (as *ambiguousError) to look first.
	create bool
}

// response is a 2xx answer, body read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// outcome is what one attempt produced.
type outcome struct {
	resp       *response
	err        *Error
	retryable  bool
	ambiguous  bool // the request reached the server and may have taken effect
	retryAfter time.Duration
}

// ambiguousError is returned by do for a create request whose last attempt
// may or may not have taken effect.
type ambiguousError struct {
	err        *Error
	retryAfter time.Duration
}

func (a *ambiguousError) Error() string { return a.err.Error() }
func (a *ambiguousError) Unwrap() error { return a.err }

// Stats counts the HTTP traffic of a client, for tests and benchmarks.
type Stats struct {
	Requests  int64 // HTTP attempts sent
	Throttled int64 // 429 answers
	Retries   int64 // attempts after the first of an operation
}

type counters struct{ requests, throttled, retries atomic.Int64 }

// Stats returns the client's traffic counters so far.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:  c.counters.requests.Load(),
		Throttled: c.counters.throttled.Load(),
		Retries:   c.counters.retries.Load(),
	}
}

// Throttle says what the client's rate limit is doing now: the rate it
// allows, whether that was learnt from the API's 429s, and whether it is
// holding requests back.
func (c *Client) Throttle() Throttle { return c.limiter.throttle() }

// retrier is the attempt budget of one operation: attempts and total time.
// A create shares one retrier between its POSTs and the lookups between
// them.
type retrier struct {
	c     *Client
	n     int
	start time.Time
}

func (c *Client) newRetrier() *retrier { return &retrier{c: c, start: time.Now()} }

var errBudget = errors.New("retry budget exhausted")

// wait sleeps before the next attempt: full jitter over an exponential
// ceiling, or the server's Retry-After when it asks for longer. It fails
// when the attempts or the time are used up, or ctx ends.
func (r *retrier) wait(ctx context.Context, retryAfter time.Duration) error {
	cfg := r.c.cfg
	if r.n >= cfg.MaxAttempts {
		return errBudget
	}
	d := backoff(r.n, cfg.BackoffBase, cfg.BackoffMax, rand.Int64N)
	if retryAfter > d {
		d = retryAfter
	}
	if time.Since(r.start)+d > cfg.MaxRetryTime {
		if retryAfter > cfg.MaxRetryTime {
			// Said, or a bare 429 after one attempt reads as if psync
			// had not retried at all.
			return fmt.Errorf("the API asked to wait %s, longer than --max-retry-time %s", retryAfter.Round(time.Second), cfg.MaxRetryTime)
		}
		return errBudget
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff is the wait after attempt n (1, 2, …): full jitter, a uniform
// draw from [0, ceiling], where the ceiling doubles from base with each
// attempt up to max. draw(k) returns a number in [0, k).
func backoff(n int, base, max time.Duration, draw func(int64) int64) time.Duration {
	ceil := base << min(n-1, 30)
	if ceil <= 0 || ceil > max {
		ceil = max
	}
	return time.Duration(draw(int64(ceil) + 1))
}

// do sends req until it succeeds, fails for good, or (for a create) fails
// ambiguously. Errors are *Error (or *ambiguousError wrapping one), with
// the key redacted.
func (c *Client) do(ctx context.Context, req *request, r *retrier) (*response, error) {
	for {
		r.n++
		if r.n > 1 {
			c.counters.retries.Add(1)
		}
		o := c.attempt(ctx, req, r.n)
		if o.err == nil {
			return o.resp, nil
		}
		o.err.Attempts = r.n
		c.redactError(o.err)
		if !o.retryable {
			return nil, o.err
		}
		if req.create && o.ambiguous {
			return nil, &ambiguousError{err: o.err, retryAfter: o.retryAfter}
		}
		if err := r.wait(ctx, o.retryAfter); err != nil {
			if !errors.Is(err, errBudget) {
				o.err.Err = withCause(o.err.Err, err)
			}
			return nil, o.err
		}
	}
}

// withCause adds why the retries stopped (the caller's context ended) to
// the last attempt's cause, keeping both for errors.Is.
func withCause(last, stopped error) error {
	if last == nil {
		return stopped
	}
	return fmt.Errorf("%w; gave up waiting to retry: %w", last, stopped)
}

// attempt sends req once.
func (c *Client) attempt(ctx context.Context, req *request, n int) outcome {
	if err := c.limiter.Wait(ctx); err != nil {
		return outcome{err: req.op.err(0, err)}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})

	u := *c.base
	u.Path = c.base.Path + req.path
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(actx, req.method, u.String(), body)
	if err != nil {
		return outcome{err: req.op.err(0, err)}
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.cfg.UserAgent)
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	logPath := u.Path
	if u.RawQuery != "" {
		logPath += "?" + u.RawQuery
	}

	start := time.Now()
	c.counters.requests.Add(1)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		dur := time.Since(start)
		if ctx.Err() != nil {
			// The caller gave up: not the network's fault, never retried.
			c.debugf("psync: %s %s -> canceled (attempt %d, %s)", req.method, logPath, n, round(dur))
			return outcome{err: req.op.err(0, ctx.Err())}
		}
		cause := networkError(err, actx, c.cfg.Timeout)
		c.debugf("psync: %s %s -> error: %v (attempt %d, %s)", req.method, logPath, cause, n, round(dur))
		if permanent(err) {
			return outcome{err: req.op.err(0, cause)}
		}
		return outcome{err: req.op.err(0, cause), retryable: true, ambiguous: wrote.Load()}
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	dur := time.Since(start)
	if rerr != nil {
		if ctx.Err() != nil {
			return outcome{err: req.op.err(0, ctx.Err())}
		}
		cause := fmt.Errorf("reading the response: %w", networkError(rerr, actx, c.cfg.Timeout))
		c.debugf("psync: %s %s -> %d, %v (attempt %d, %s)", req.method, logPath, resp.StatusCode, cause, n, round(dur))
		return outcome{err: req.op.err(resp.StatusCode, cause), retryable: true, ambiguous: true}
	}
	c.debugf("psync: %s %s -> %d (attempt %d, %s)", req.method, logPath, resp.StatusCode, n, round(dur))
	return c.answer(req, resp, data)
}

// answer turns a response read in full into an outcome: too large, holding
// the key, or classified by status.
func (c *Client) answer(req *request, resp *http.Response, data []byte) outcome {
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return outcome{err: req.op.err(resp.StatusCode, fmt.Errorf("response body larger than %d bytes; refusing to read it", c.cfg.MaxResponseBytes))}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && c.keyOnly.ContainsBytes(data) {
		// A value decoded from this answer (a name, an id, a cursor)
		// would carry the key into the plan, the state or the log.
		return outcome{err: req.op.err(resp.StatusCode, errKeyInAnswer)}
	}
	// A server echoing the key (or another secret) back in an error:
	// scrub it before any excerpt of the body is cut (a cut could leave
	// half of it unredacted).
	data = c.redactor.RedactBytes(data)
	return c.classify(req, resp, data)
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

// permanent reports a failure to reach the API that trying again cannot
// mend: a certificate that does not verify, https to a server that speaks
// http, a host name that does not resolve, a request Go refuses to send (a
// key with a control character). Retrying those only delays the error.
func permanent(err error) bool {
	var cert *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var dns *net.DNSError
	var redirect *RedirectError
	switch {
	case errors.As(err, &redirect):
		return true
	case errors.As(err, &cert), errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid):
		return true
	case errors.As(err, &dns) && dns.IsNotFound:
		return true
	}
	// net/http words these as plain strings.
	msg := err.Error()
	return strings.Contains(msg, "server gave HTTP response to HTTPS client") ||
		strings.Contains(msg, "invalid header field")
}

// networkError names a timeout as one: a bare "context deadline exceeded"
// tells a user nothing.
func networkError(err error, actx context.Context, timeout time.Duration) error {
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s (--timeout): %w", timeout, context.DeadlineExceeded)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// The URL is known from the operation; keep the cause.
		return ue.Err
	}
	return err
}

// classify turns a complete HTTP answer into an outcome.
func (c *Client) classify(req *request, resp *http.Response, data []byte) outcome {
	status := resp.StatusCode
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if status == http.StatusTooManyRequests {
		c.counters.throttled.Add(1)
		c.limiter.throttled()
	} else {
		c.limiter.ok()
	}
	if status >= 200 && status < 300 {
		if apiErr, ok := errorBody(data); ok {
			e := req.op.err(status, nil)
			fillAPIError(e, apiErr)
			if e.Message == "" {
				e.Message = "the API answered " + strconv.Itoa(status) + " with an error body"
			}
			retry := retryableCode(apiErr.Code)
			return outcome{err: e, retryable: retry, ambiguous: retry, retryAfter: retryAfter}
		}
		return outcome{resp: &response{status: status, header: resp.Header, body: data}}
	}
	e := req.op.err(status, nil)
	describeErrorBody(e, resp.Header, data)
	switch {
	case status == http.StatusNotImplemented || status == http.StatusHTTPVersionNotSupported:
		return outcome{err: e}
	case status == http.StatusTooManyRequests || e.Code == api.CodeTooManyRequests:
		// Throttled before being processed: safe to repeat, even a create.
		return outcome{err: e, retryable: true, retryAfter: retryAfter}
	case retryableStatus(status) || retryableCode(e.Code):
		// The request may have been processed: a create (or a live
		// assign) looks before it tries again.
		return outcome{err: e, retryable: true, ambiguous: true, retryAfter: retryAfter}
	default:
		return outcome{err: e}
	}
}

// statusClientClosed is the live API's CLIENT_CLOSED_REQUEST status.
const statusClientClosed = 499

// retryableStatus: the server failed, timed out or gave up on the request.
func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == statusClientClosed || status >= 500
}

// retryableCode: the live API names its status in the body's code (an
// open set: an unknown code decides nothing). SERVICE_UNAVAILABLE is no
// live code but a proxy's or the sandbox's; it is still read.
func retryableCode(code string) bool {
	switch code {
	case api.CodeTooManyRequests, api.CodeInternalServer, api.CodeTimeout, api.CodeClientClosed, api.CodeServiceUnavailable:
		return true
	}
	return false
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when
// absent or unreadable. It is capped so a hostile value cannot stall psync
// past its own retry budget (which then gives up instead).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return d
}

// errorBody reports whether a 2xx body is in fact an error object: {code,
// message} and nothing that an object or a list would carry.
func errorBody(data []byte) (api.Error, bool) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return api.Error{}, false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(trimmed, &probe) != nil {
		return api.Error{}, false
	}
	_, hasCode := probe["code"]
	_, hasMessage := probe["message"]
	if !hasCode || !hasMessage {
		return api.Error{}, false
	}
	for _, k := range []string{"id", "items", "data", "name"} {
		if _, ok := probe[k]; ok {
			return api.Error{}, false
		}
	}
	var e api.Error
	if json.Unmarshal(trimmed, &e) != nil {
		return api.Error{}, false
	}
	return e, true
}

func fillAPIError(e *Error, a api.Error) {
	e.Code = a.Code
	e.Message = a.Message
	e.Details = a.Details
	e.Issues = a.Issues
}

// describeErrorBody fills e from a non-2xx body: the API's error object
// when there is one, else a short, printable description of what came.
func describeErrorBody(e *Error, h http.Header, data []byte) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return
	}
	if trimmed[0] == '{' {
		var a api.Error
		if json.Unmarshal(trimmed, &a) == nil && (a.Code != "" || a.Message != "") {
			fillAPIError(e, a)
			return
		}
		// Details or issues of a shape not foreseen must not lose the
		// code and message.
		var head struct {
			Code, Message string
		}
		if json.Unmarshal(trimmed, &head) == nil && (head.Code != "" || head.Message != "") {
			e.Code, e.Message = head.Code, head.Message
			return
		}
		// Other common shapes: {"error": "..."} and {"error": {...}}.
		var wrapped struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(trimmed, &wrapped) == nil && len(wrapped.Error) > 0 {
			var s string
			if json.Unmarshal(wrapped.Error, &s) == nil {
				e.Message = s
				return
			}
			if json.Unmarshal(wrapped.Error, &a) == nil && (a.Code != "" || a.Message != "") {
				fillAPIError(e, a)
				return
			}
		}
	}
	if isHTML(h, trimmed) {
		e.Message = "the server answered with an HTML page, not the API's JSON (is the API URL right?)"
		return
	}
	e.Message = "unexpected response: " + snippet(trimmed)
}

func isHTML(h http.Header, body []byte) bool {
	if strings.Contains(strings.ToLower(h.Get("Content-Type")), "html") {
		return true
	}
	return len(body) > 0 && body[0] == '<'
}

// snippet is a short, single-line, printable excerpt of a body.
func snippet(b []byte) string {
	const max = 200
	cut := len(b) > max
	if cut {
		b = b[:max]
	}
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return strconv.Quote(s)
}

// decodeBody decodes a 2xx JSON body into v, describing what went wrong
// when it is not JSON (an HTML page from a proxy, a truncated answer).
func (c *Client) decodeBody(o op, resp *response, v any) error {
	if err := decodeBody(o, resp, v); err != nil {
		return c.redactError(err)
	}
	return nil
}

func decodeBody(o op, resp *response, v any) *Error {
	trimmed := bytes.TrimSpace(resp.body)
	if len(trimmed) == 0 {
		return o.err(resp.status, errors.New("empty response body where a JSON object was expected"))
	}
	if isHTML(resp.header, trimmed) {
		return o.err(resp.status, errors.New("the server answered with an HTML page, not the API's JSON (is the API URL right?)"))
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &syn) && strings.Contains(err.Error(), "unexpected end")):
			return o.err(resp.status, fmt.Errorf("truncated JSON response (%d bytes): %w", len(trimmed), err))
		default:
			return o.err(resp.status, fmt.Errorf("malformed JSON response: %w (%s)", err, snippet(trimmed)))
		}
	}
	return nil
}

// jsonBody marshals a request body; the wire types always marshal.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
