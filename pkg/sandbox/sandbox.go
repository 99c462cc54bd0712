package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

// DefaultTeam is the team of the generated key when Config.Keys is empty.
const DefaultTeam = "team-sandbox"

// Dialects the sandbox may speak.
const (
	DialectSpec        = "spec"          // api/openapi.yaml exactly
	DialectPaperspace1 = "paperspace-v1" // the live API (../shared/paperspace-v1-notes.md)
)

// Config configures a sandbox server.
type Config struct {
	// DataDir persists everything there (a bbolt file) and locks the
	// directory against a second server; "" keeps everything in memory.
	DataDir string
	// Keys maps API keys to team ids. When empty there is one team,
	// DefaultTeam, whose generated key is stable for a given DataDir.
	Keys map[string]string
	// Machines is how many machines each team has, psbox001…; 0 means 10.
	Machines int
	// Dialect is DialectSpec ("" means it) or DialectPaperspace1, the live
	// API's shapes (envelopes, isRunOnce, assignedMachineIds, 200 for every
	// success, asynchronous template creation, /auth/session).
	Dialect string
	// Live tunes the paperspace-v1 dialect.
	Live   LiveConfig
	Faults Faults
	// Sync makes every write fsync before it is acknowledged, so it also
	// survives a power cut. Without it a write is acknowledged once it is
	// in the kernel's page cache, which survives the death of the process
	// (kill -9) and is many times faster.
	Sync bool
	// Logf, when set, receives one line per API request (never the key).
	Logf func(format string, args ...any)
}

// Server is a sandbox API server. Its Handler serves everything under /v1.
type Server struct {
	cfg     Config
	st      *store
	keys    map[string]string // key -> team
	faults  atomic.Pointer[faultState]
	obs     *observer
	handler http.Handler
	mux     *http.ServeMux
	closed  sync.Once
	closeFn func() error
	// d is the wire the server speaks (spec.go or live.go) around the
	// core's semantics (core.go).
	d dialect
	// lingerFor is how long deleted objects stay visible, with dtDeleted
	// (LiveConfig.DeletedLinger in the paperspace-v1 dialect).
	lingerFor time.Duration
	// unmarked leaves dtDeleted out (LiveConfig.DeletedUnmarked).
	unmarked bool
	// templateSeq numbers live template creations, so that which fail is
	// deterministic under the seed.
	templateSeq atomic.Uint64
}

// New opens a sandbox with cfg: it loads (or creates) the data in
// cfg.DataDir and seeds each team's machines. It fails when the directory is
// held by another server.
func New(cfg Config) (*Server, error) {
	switch cfg.Dialect {
	case "", DialectSpec:
		cfg.Dialect = DialectSpec
	case DialectPaperspace1:
	default:
		return nil, fmt.Errorf("sandbox: unknown dialect %q (want %q or %q)", cfg.Dialect, DialectSpec, DialectPaperspace1)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"template error rate", cfg.Live.TemplateErrorRate}, {"template spurious error rate", cfg.Live.TemplateSpuriousErrorRate}} {
		if r.v < 0 || r.v > 1 || r.v != r.v {
			return nil, fmt.Errorf("sandbox: %s %v is not a fraction between 0 and 1", r.name, r.v)
		}
	}
	if st := cfg.Live.RedundantAssignStatus; st != 0 && (st < 200 || st > 599) {
		return nil, fmt.Errorf("sandbox: redundant assign status %d is not an HTTP status", st)
	}
	if cfg.Live.MaxScriptBytes < 0 {
		return nil, fmt.Errorf("sandbox: max script bytes %d cannot be negative", cfg.Live.MaxScriptBytes)
	}
	if cfg.Machines < 0 {
		return nil, fmt.Errorf("sandbox: machines %d cannot be negative", cfg.Machines)
	}
	if cfg.Machines == 0 {
		cfg.Machines = 10
	}
	if err := cfg.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	for k, t := range cfg.Keys {
		if k == "" || t == "" {
			return nil, fmt.Errorf("sandbox: an API key and its team must not be empty")
		}
		if strings.ContainsAny(k, " \t\r\n") {
			return nil, fmt.Errorf("sandbox: the key of team %s contains white space", t)
		}
	}
	st, err := openStore(cfg.DataDir, cfg.Sync)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	keys := map[string]string{}
	for k, t := range cfg.Keys {
		keys[k] = t
	}
	if len(keys) == 0 {
		k, err := st.defaultKey()
		if err != nil {
			st.close()
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		keys[k] = DefaultTeam
	}
	for _, t := range keys {
		st.team(t)
	}
	for _, t := range st.teams {
		t.seedMachines(cfg.Machines)
	}
	s := &Server{cfg: cfg, st: st, keys: keys, obs: newObserver(), d: specDialect{}}
	if cfg.Dialect == DialectPaperspace1 {
		s.d, s.lingerFor, s.unmarked = liveDialect{s}, cfg.Live.DeletedLinger, cfg.Live.DeletedUnmarked
	}
	s.faults.Store(newFaultState(cfg.Faults))
	s.closeFn = st.close
	s.routes()
	return s, nil
}

// Handler serves the API and the /_sandbox/ endpoints under /v1.
func (s *Server) Handler() http.Handler { return s.handler }

// SetFaults replaces the injected faults. The decision sequence and the
// rate limiters start afresh.
func (s *Server) SetFaults(f Faults) {
	s.faults.Store(newFaultState(f))
}

// Keys returns the API keys by team id (the first key, in sort order, of a
// team with several).
func (s *Server) Keys() map[string]string {
	out := map[string]string{}
	for k, t := range s.keys {
		if old, ok := out[t]; !ok || k < old {
			out[t] = k
		}
	}
	return out
}

// Stats returns the request counts (as GET /v1/_sandbox/stats).
func (s *Server) Stats() Stats { return s.obs.stats() }

// Requests returns the request log (as GET /v1/_sandbox/requests).
func (s *Server) Requests() RequestLog { return s.obs.requests() }

// ResetStats clears the stats and the request log, not the data (as
// POST /v1/_sandbox/reset).
func (s *Server) ResetStats() { s.obs.reset() }

// Dump returns everything team teamID has (as GET /v1/_sandbox/dump).
func (s *Server) Dump(teamID string) (Dump, error) {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	t := s.st.teams[teamID]
	if t == nil {
		return Dump{}, fmt.Errorf("sandbox: no team %q", teamID)
	}
	return dumpTeam(t), nil
}

// Close closes the store (flushing it to disk) and releases the data
// directory. The handler must no longer be serving.
func (s *Server) Close() error {
	var err error
	s.closed.Do(func() {
		s.st.mu.Lock()
		defer s.st.mu.Unlock()
		err = s.closeFn()
	})
	return err
}

// Instance is a sandbox serving on a network address.
type Instance struct {
	// URL is the API's base URL, with /v1 (http://127.0.0.1:41234/v1).
	URL string
	// Key is a valid key: the first team's, sorted by team id.
	Key string
	// TeamID is Key's team.
	TeamID string
	Server *Server
	http   *http.Server
	done   chan struct{} // closed when serving stops
	err    error         // why serving stopped, once done is closed
}

// reachableAddr is the listener's address as a client on this machine can
// dial it: a wildcard listener ("0.0.0.0:0", ":0") is reached on loopback,
// which psync also accepts over plain http.
func reachableAddr(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return a.String()
}

// Start opens a sandbox with cfg and serves it on addr (":0" or
// "127.0.0.1:0" picks a free port) in a goroutine, until Close.
func Start(cfg Config, addr string) (*Instance, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	in := &Instance{URL: "http://" + reachableAddr(ln.Addr()) + "/v1", Server: s, http: hs, done: make(chan struct{})}
	keys := s.Keys()
	teams := make([]string, 0, len(keys))
	for t := range keys {
		teams = append(teams, t)
	}
	sort.Strings(teams)
	in.TeamID, in.Key = teams[0], keys[teams[0]]
	go func() {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		in.err = err
		close(in.done)
	}()
	return in, nil
}

// Close stops serving (letting requests in flight finish for up to five
// seconds) and closes the server.
func (i *Instance) Close() error {
	// http.Server.Shutdown would wait up to 5s for connections that never
	// sent a request (a parallel client's spares). The sandbox knows what
	// it is serving: let the API requests in flight finish, then close
	// every connection at once.
	i.http.SetKeepAlivesEnabled(false)
	for deadline := time.Now().Add(5 * time.Second); i.Server.Stats().InFlight > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	err := i.http.Close()
	<-i.done
	return errors.Join(err, i.err, i.Server.Close())
}

// Wait blocks until the instance stops serving (after Close, or when the
// listener fails) and returns why: nil after Close.
func (i *Instance) Wait() error {
	<-i.done
	return i.err
}

// reply is what an API handler answers: a status and a JSON body (none when
// body is nil).
type reply struct {
	status int
	body   any
}

func ok(status int, body any) *reply { return &reply{status: status, body: body} }

func errReply(status int, code, format string, args ...any) *reply {
	return &reply{status: status, body: &api.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// codeOf is the error code of an HTTP status, as the live API names it.
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest:
		return api.CodeBadRequest
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusForbidden:
		return api.CodeForbidden
	}
	return api.CodeInternalServer
}

func notFound(kind, id string) *reply {
	return errReply(http.StatusNotFound, api.CodeNotFound, "%s %q not found", kind, id)
}

// call is one authenticated API request.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	team *team
}

// apiRoute is an API operation: route is its method and template relative
// to /v1, as counted in Stats ("POST /startup-scripts/{id}/assign").
type apiRoute struct {
	route  string
	handle func(*call) *reply
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	for _, rt := range append(s.coreRoutes(), s.d.routes()...) {
		method, path, _ := strings.Cut(rt.route, " ")
		mux.Handle(method+" /v1"+path, s.api(method, path, rt.handle))
	}
	mux.Handle("GET /v1/_sandbox/dump", s.admin(s.serveDump))
	mux.Handle("GET /v1/_sandbox/stats", s.admin(func(w http.ResponseWriter, r *http.Request, _ *team) {
		writeJSON(w, http.StatusOK, s.Stats())
	}))
	mux.Handle("GET /v1/_sandbox/requests", s.admin(func(w http.ResponseWriter, r *http.Request, _ *team) {
		writeJSON(w, http.StatusOK, s.Requests())
	}))
	mux.Handle("POST /v1/_sandbox/reset", s.admin(func(w http.ResponseWriter, r *http.Request, _ *team) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.Handle("POST /v1/_sandbox/machines", s.adminReply(s.adminCreateMachine))
	mux.Handle("PUT /v1/_sandbox/machines/{id}", s.adminReply(s.adminUpdateMachine))
	mux.Handle("DELETE /v1/_sandbox/machines/{id}", s.adminReply(s.adminDeleteMachine))
	mux.HandleFunc("/", s.unmatched)
	s.mux = mux
	s.handler = mux
}

// unmatched answers a path no route serves: 405 when the path exists with
// another method, else 404. It is counted as route "*".
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
		if _, pat := s.mux.Handler(probe); pat != "/" && pat != "" {
			allowed = append(allowed, m)
		}
	}
	isAPI := !strings.HasPrefix(r.URL.Path, "/v1/_sandbox/")
	var seq uint64
	start := time.Now()
	if isAPI {
		seq = s.obs.begin()
	}
	rep := notFound("route", r.Method+" "+r.URL.Path)
	rep.body.(*api.Error).Message = fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		rep = errReply(http.StatusMethodNotAllowed, "METHOD_NOT_SUPPORTED", "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	writeJSON(w, rep.status, rep.body)
	if isAPI {
		s.obs.end(RequestRecord{Seq: seq, Method: r.Method, Route: "*", Path: strings.TrimPrefix(r.URL.Path, "/v1"), Query: r.URL.RawQuery, Status: rep.status, Start: start, End: time.Now()})
	}
}

// authenticate returns the caller's key and team, or false.
func (s *Server) authenticate(r *http.Request) (string, *team, bool) {
	h := r.Header.Get("Authorization")
	if !hasPrefixFold(h, "Bearer ") {
		return "", nil, false
	}
	key := strings.TrimSpace(h[len("Bearer "):])
	teamID, ok := s.keys[key]
	if !ok {
		return "", nil, false
	}
	s.st.mu.RLock()
	t := s.st.teams[teamID]
	s.st.mu.RUnlock()
	return key, t, t != nil
}

func unauthorized(w http.ResponseWriter, r *http.Request) int {
	w.Header().Set("WWW-Authenticate", `Bearer realm="psync sandbox"`)
	msg := "a valid API key is required: Authorization: Bearer KEY"
	if r.Header.Get("Authorization") != "" {
		msg = "the API key is not valid"
	}
	writeJSON(w, http.StatusUnauthorized, &api.Error{Code: api.CodeUnauthorized, Message: msg})
	return http.StatusUnauthorized
}

// api wraps an API operation with accounting, auth and fault injection.
func (s *Server) api(method, path string, h func(*call) *reply) http.Handler {
	write := method != http.MethodGet
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seq := s.obs.begin()
		rec := RequestRecord{Seq: seq, Method: r.Method, Route: path, Path: strings.TrimPrefix(r.URL.Path, "/v1"), Query: r.URL.RawQuery, Start: time.Now()}
		rec.Status, rec.Fault, rec.Team = s.serveAPI(w, r, write, h)
		rec.End = time.Now()
		s.obs.end(rec)
		if s.cfg.Logf != nil {
			fault := ""
			if rec.Fault != "" {
				fault = " [" + rec.Fault + "]"
			}
			s.cfg.Logf("sandbox: %s %s -> %d in %s%s", r.Method, r.URL.RequestURI(), rec.Status, rec.End.Sub(rec.Start).Round(time.Microsecond), fault)
		}
	})
}

// serveAPI answers one API request and returns its status (0 when the
// connection was dropped), the fault injected if any, and the team.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, write bool, h func(*call) *reply) (status int, fault, teamID string) {
	fs := s.faults.Load()
	d := fs.decide()
	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0, "client-gone", ""
		}
	}
	key, t, authed := s.authenticate(r)
	if !authed {
		return unauthorized(w, r), "", ""
	}
	if ok, wait := fs.allow(key); !ok {
		w.Header().Set("Retry-After", retryAfter(max(wait, time.Second)))
		writeJSON(w, http.StatusTooManyRequests, &api.Error{Code: api.CodeTooManyRequests, Message: fmt.Sprintf("rate limit of %g requests per second exceeded", fs.RPS)})
		return http.StatusTooManyRequests, "rps", t.id
	}
	if d.throttle {
		wait := fs.RetryAfter
		if wait == 0 {
			wait = time.Second
		}
		w.Header().Set("Retry-After", retryAfter(wait))
		writeJSON(w, http.StatusTooManyRequests, &api.Error{Code: api.CodeTooManyRequests, Message: "too many requests (injected)"})
		return http.StatusTooManyRequests, "throttle", t.id
	}
	if d.errStatus != 0 {
		code := api.CodeInternalServer
		if d.errStatus == http.StatusServiceUnavailable {
			code = api.CodeServiceUnavailable
		}
		writeJSON(w, d.errStatus, &api.Error{Code: code, Message: "injected server error"})
		return d.errStatus, "error", t.id
	}
	rep := h(&call{w: w, r: r, team: t})
	if write && d.ambiguous && rep.status < 300 {
		if d.drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return 0, "ambiguous-drop", t.id
				}
			}
		}
		writeJSON(w, http.StatusInternalServerError, &api.Error{Code: api.CodeInternalServer, Message: "injected server error after the write was made"})
		return http.StatusInternalServerError, "ambiguous-500", t.id
	}
	writeJSON(w, rep.status, rep.body)
	return rep.status, "", t.id
}

// admin wraps a /_sandbox/ endpoint: authenticated, but without faults and
// not counted.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, *team)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, t, ok := s.authenticate(r)
		if !ok {
			unauthorized(w, r)
			return
		}
		h(w, r, t)
	})
}

// adminReply is admin for a handler that answers a reply.
func (s *Server) adminReply(h func(http.ResponseWriter, *http.Request, *team) *reply) http.Handler {
	return s.admin(func(w http.ResponseWriter, r *http.Request, t *team) {
		rep := h(w, r, t)
		writeJSON(w, rep.status, rep.body)
	})
}

func (s *Server) serveDump(w http.ResponseWriter, r *http.Request, t *team) {
	s.st.mu.RLock()
	d := dumpTeam(t)
	s.st.mu.RUnlock()
	writeJSON(w, http.StatusOK, d)
}

// writeJSON writes body as JSON with status; a nil body writes no body.
func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(&api.Error{Code: api.CodeInternalServer, Message: "encode response: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(data)+1))
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}
