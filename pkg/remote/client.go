package remote

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/psync-dev/psync/internal/textsafe"
)

// Config configures a Client. The zero value of every optional field picks
// a sensible default.
type Config struct {
	// BaseURL is the API's base, e.g. https://api.paperspace.com/v1 (a
	// trailing slash is fine). Plain http:// is refused unless the host is
	// loopback or InsecureHTTP is set.
	BaseURL string
	// APIKey is sent as a bearer token, only to BaseURL's host.
	APIKey string
	// HTTPClient is used for the requests (its Transport is wrapped to add
	// auth, its CheckRedirect replaced by the client's own); nil means a client with a copy of http.DefaultTransport that
	// keeps enough idle connections for concurrent use.
	HTTPClient *http.Client
	// InsecureHTTP allows http:// to a host that is not loopback.
	InsecureHTTP bool
	// RateLimit is the most requests per second, shared by all goroutines
	// using the client; 0 means unlimited until the API throttles.
	RateLimit float64
	// Timeout bounds one HTTP attempt (default 30s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one operation (default 8).
	MaxAttempts int
	// MaxRetryTime bounds the time one operation spends retrying
	// (default 2m).
	MaxRetryTime time.Duration
	// Debug, when set, receives one line per HTTP attempt: method, path,
	// status, attempt and duration. The key never appears in it.
	Debug io.Writer
	// UserAgent is sent with every request (default "psync").
	UserAgent string
	// Redactor, when set, is the Redactor the client redacts its errors
	// and debug log with (New adds the key to it), so that secrets the
	// caller registers on it are hidden there too; nil means a new one.
	Redactor *Redactor

	// BackoffBase and BackoffMax shape the exponential backoff between
	// attempts: attempt n waits a uniformly random time in
	// [0, min(BackoffMax, BackoffBase·2ⁿ)) (full jitter), or Retry-After
	// when the API sends it. Defaults 250ms and 15s.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxResponseBytes caps how much of one response body is read
	// (default 64 MiB); a larger body is an error, not a crash.
	MaxResponseBytes int64
	// MaxListBytes caps the answers of one list walk together (default
	// 256 MiB): pages of huge items with new ids and cursors would
	// otherwise hold MaxListPages times MaxResponseBytes in memory.
	MaxListBytes int64
	// Dialect, when set, is the dialect to write in until a response
	// shows another; empty means detect it (from the first list, or one
	// cheap request before the first write).
	Dialect Dialect
	// PollInterval is how soon an asynchronous template creation (live
	// dialect) is first polled (default 2s); the interval then grows
	// by half each time, up to 30s.
	PollInterval time.Duration
	// EventTimeout bounds the wait for one asynchronous creation
	// (default 30m).
	EventTimeout time.Duration
}

// Client talks to the API. It implements Reader and Writer and is safe for
// concurrent use; all its goroutines share one rate limiter.
type Client struct {
	base    *url.URL
	baseStr string
	key     string
	// keyOnly finds the key alone, in any encoding: a 2xx answer that
	// holds it is refused. redactor also holds the caller's secrets.
	keyOnly  *Redactor
	redactor *Redactor
	hc       *http.Client
	cfg      Config
	limiter  *limiter
	counters counters
	debugMu  sync.Mutex

	mu      sync.Mutex
	dialect Dialect // detected from responses; "" until known
	session *sessionResult
	// fetched holds the ids of the scripts and templates the last Fetch
	// saw. An object that existed then cannot be the result of a later
	// create, so the lookup after an ambiguous create ignores them.
	fetched map[string]bool
	// created holds the API's dtCreated of the objects listed, by id.
	created map[string]time.Time
}

type sessionResult struct {
	team string
	err  error
}

// DefaultBaseURL is Paperspace's API.
const DefaultBaseURL = "https://api.paperspace.com/v1"

// Defaults.
const (
	defaultTimeout      = 30 * time.Second
	defaultMaxAttempts  = 8
	defaultMaxRetryTime = 2 * time.Minute
	defaultBackoffBase  = 250 * time.Millisecond
	defaultBackoffMax   = 15 * time.Second
	defaultMaxResponse  = 64 << 20
	defaultMaxListBytes = 256 << 20
	defaultPoll         = 2 * time.Second
	maxPoll             = 30 * time.Second
	defaultEventTimeout = 30 * time.Minute
)

// New checks cfg and returns a client. It refuses a missing key, a URL that
// is not absolute http(s), a URL carrying credentials, and plain http:// to
// a non-loopback host unless cfg.InsecureHTTP.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("no API key")
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("the API key contains a line break")
	}
	// A key too short to be a real one (a test's "k") would refuse
	// every answer that happens to hold its letters.
	keyOnly := NewRedactor()
	if len(cfg.APIKey) >= minKeyLen {
		keyOnly.AddSecret(cfg.APIKey)
	}
	redactor := cfg.Redactor
	if redactor == nil {
		redactor = NewRedactor()
	}
	redactor.AddSecret(cfg.APIKey)
	base, err := ParseBaseURL(cfg.BaseURL, cfg.InsecureHTTP)
	if err != nil {
		// The error quotes the URL, which may hold the key (a secret
		// mapped to both variables, or put in the query).
		if redactor.Contains(err.Error()) {
			return nil, errors.New(redactor.Redact(err.Error()))
		}
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.MaxRetryTime <= 0 {
		cfg.MaxRetryTime = defaultMaxRetryTime
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = defaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = defaultBackoffMax
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = defaultMaxResponse
	}
	if cfg.MaxListBytes <= 0 {
		cfg.MaxListBytes = defaultMaxListBytes
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPoll
	}
	if cfg.EventTimeout <= 0 {
		cfg.EventTimeout = defaultEventTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "psync"
	}
	if cfg.RateLimit < 0 {
		return nil, fmt.Errorf("rate limit %v: must not be negative", cfg.RateLimit)
	}

	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	next := hc.Transport
	if next == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default keeps two idle connections per host: at
		// --parallelism 32 most requests would dial (and, against the
		// real API, handshake TLS) again. Keep one per worker.
		t.MaxIdleConns = maxIdleConns
		t.MaxIdleConnsPerHost = maxIdleConns
		next = t
	}
	hc.Transport = &bearer{key: cfg.APIKey, host: base.Host, scheme: base.Scheme, next: next}

	c := &Client{
		base: base,
		// The URL is printed and recorded in the state: a key in its
		// path (a proxy that takes it there) must be in neither.
		baseStr:  redactor.Redact(base.String()),
		key:      cfg.APIKey,
		keyOnly:  keyOnly,
		redactor: redactor,
		hc:       hc,
		cfg:      cfg,
		limiter:  newLimiter(cfg.RateLimit),
		dialect:  cfg.Dialect,
	}
	hc.CheckRedirect = c.checkRedirect
	return c, nil
}

// maxRedirects bounds the redirects one request follows.
const maxRedirects = 5

// RedirectError is a redirect the client refused to follow: to another
// scheme, host or port than the API's (the key, and a request body, must
// never go anywhere else, and https must never become http), or one too
// many. From and To are the two URLs, with any secret redacted.
type RedirectError struct {
	From, To string
	Reason   string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refused a redirect from %s to %s: %s", e.From, e.To, e.Reason)
}

// checkRedirect follows a redirect only within the API's origin, and logs
// each hop it follows.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	prev := via[len(via)-1]
	refuse := func(reason string) error {
		return &RedirectError{From: c.redact(prev.URL.String()), To: c.redact(req.URL.String()), Reason: reason}
	}
	switch {
	case prev.URL.Scheme == "https" && req.URL.Scheme != "https":
		return refuse("psync never follows https to plain http")
	case !sameOrigin(req.URL, c.base):
		return refuse(fmt.Sprintf("psync follows redirects only within the API's own scheme, host and port (%s://%s)", c.base.Scheme, c.redact(c.base.Host)))
	case len(via) > maxRedirects:
		return refuse(fmt.Sprintf("more than %d redirects", maxRedirects))
	}
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	c.debugf("psync: %s %s -> %d, redirected to %s (hop %d)", prev.Method, prev.URL.RequestURI(), status, req.URL.RequestURI(), len(via))
	return nil
}

// sameOrigin reports whether u has base's scheme, host and port (the
// scheme's default port when none is written).
func sameOrigin(u, base *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) &&
		strings.EqualFold(u.Hostname(), base.Hostname()) &&
		portOf(u) == portOf(base)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// minKeyLen is the shortest key a 2xx answer is searched for.
const minKeyLen = 8

// maxIdleConns is how many idle connections the default transport keeps
// for reuse: more than any useful --parallelism.
const maxIdleConns = 128

// ParseBaseURL parses and normalises an API base URL (lower-case scheme
// and host, no trailing slash), refusing plain http:// to a host that is
// not loopback unless insecure. Its String() is the stable identity of the
// API a state file belongs to.
func ParseBaseURL(raw string, insecure bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("no API URL")
	}
	// Errors name the URL without its query or fragment, which a pasted
	// URL may carry a token in.
	shown := raw
	if i := strings.IndexAny(shown, "?#"); i >= 0 {
		shown = shown[:i] + "?…"
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("API URL %q: %w", shown, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("API URL %q: want an absolute https:// URL", shown)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("API URL %q: no host", shown)
	}
	if u.User != nil {
		// Credentials in the URL would end up in logs and state files.
		return nil, fmt.Errorf("API URL must not contain credentials; put the key in PAPERSPACE_API_KEY")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("API URL %q: must not have a query or fragment", shown)
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if u.Scheme == "http" && !insecure && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("API URL %q: refusing plain http:// to %s, which is not loopback: the key would travel unencrypted (use https://, or --insecure-http if you really mean it)", u.String(), u.Hostname())
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BaseURL returns the normalised base URL the client talks to, with any
// secret in it (the key in its path) replaced by Redacted.
func (c *Client) BaseURL() string { return c.baseStr }

// Dialect returns the API dialect detected so far ("" before any list).
func (c *Client) Dialect() Dialect {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialect
}

// noteDialect records the dialect a response revealed. The live dialect is
// sticky: one envelope or live-only field is proof enough.
func (c *Client) noteDialect(d Dialect) {
	if d == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialect == "" || d == DialectPaperspaceV1 {
		c.dialect = d
	}
}

// bearer adds the key to requests for the API's own scheme and host only,
// so a redirect elsewhere never carries it.
type bearer struct {
	key, host, scheme string
	next              http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.EqualFold(r.URL.Host, b.host) || r.URL.Scheme != b.scheme {
		return b.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(r2)
}

// Redactor returns the Redactor that hides the key, and every secret added
// to it, from the client's errors and debug log. Callers add their own
// secrets (secret script variables) with its AddSecret, and may redact
// their own output with it.
func (c *Client) Redactor() *Redactor { return c.redactor }

// HoldsKey reports whether s holds the API key, in any encoding the
// Redactor finds. A caller checks with it the values it is about to print
// or record that did not come from the API (whose answers holding the key
// are refused).
func (c *Client) HoldsKey(s string) bool { return c.keyOnly.Contains(s) }

// redact removes the key and the registered secrets from s: servers have
// been known to echo request headers back in their error messages.
func (c *Client) redact(s string) string {
	return c.redactor.Redact(s)
}

func (c *Client) redactAny(v any) any {
	switch v := v.(type) {
	case string:
		return c.redact(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[c.redact(k)] = c.redactAny(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = c.redactAny(x)
		}
		return out
	default:
		return v
	}
}

func (c *Client) debugf(format string, args ...any) {
	if c.cfg.Debug == nil {
		return
	}
	// A line may quote what the API chose (a redirect's Location, whose
	// query url.Parse keeps raw): escaped, it cannot drive the terminal.
	line := textsafe.Line(c.redact(fmt.Sprintf(format, args...)))
	c.debugMu.Lock()
	defer c.debugMu.Unlock()
	fmt.Fprintln(c.cfg.Debug, line)
}

// String and GoString keep the key out of %v, %+v and %#v: a Config or a
// Client printed while debugging must not leak it.
func (c Config) String() string {
	return fmt.Sprintf("remote.Config{BaseURL: %q, APIKey: [REDACTED], RateLimit: %v, Timeout: %v, MaxAttempts: %d, MaxRetryTime: %v}",
		c.BaseURL, c.RateLimit, c.Timeout, c.MaxAttempts, c.MaxRetryTime)
}

// GoString is String.
func (c Config) GoString() string { return c.String() }

// String describes the client without its key.
func (c *Client) String() string { return fmt.Sprintf("remote.Client{%s}", c.baseStr) }

// GoString is String.
func (c *Client) GoString() string { return c.String() }
