package sandbox_test

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// within fails unless got/n is within tol of want.
func within(t *testing.T, what string, got, n int, want, tol float64) {
	t.Helper()
	rate := float64(got) / float64(n)
	if math.Abs(rate-want) > tol {
		t.Errorf("%s: observed %d/%d = %.3f, want %.2f ± %.2f", what, got, n, rate, want, tol)
	} else {
		t.Logf("%s: observed %d/%d = %.3f (want %.2f ± %.2f)", what, got, n, rate, want, tol)
	}
}

const faultRequests = 2000

func TestErrorRate(t *testing.T) {
	e := newEnv(t, sandbox.Config{Faults: sandbox.Faults{ErrorRate: 0.2, Seed: 7}})
	counts := map[int]int{}
	bulk := e.unchecked()
	for i := range faultRequests {
		c := bulk
		if i < 200 {
			c = e
		}
		r := c.do(e.key, "GET", "/os-templates?limit=1", nil)
		counts[r.status]++
		if r.status >= 500 {
			code := map[int]string{500: api.CodeInternalServer, 503: api.CodeServiceUnavailable}[r.status]
			apiErr(t, r, r.status, code)
		}
	}
	within(t, "error rate", counts[500]+counts[503], faultRequests, 0.2, 0.04)
	within(t, "503 among errors", counts[503], counts[500]+counts[503], 0.5, 0.1)
	if counts[200]+counts[500]+counts[503] != faultRequests {
		t.Errorf("statuses %v", counts)
	}
	st := e.srv.Stats().Requests["GET /os-templates"]
	if diff := cmp.Diff(counts, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestThrottleRate(t *testing.T) {
	e := newEnv(t, sandbox.Config{Faults: sandbox.Faults{ThrottleRate: 0.2, Seed: 8}})
	n429 := 0
	bulk := e.unchecked()
	for i := range faultRequests {
		c := bulk
		if i < 200 {
			c = e
		}
		r := c.do(e.key, "GET", "/startup-scripts", nil)
		switch r.status {
		case 429:
			n429++
			apiErr(t, r, 429, api.CodeTooManyRequests)
			if ra := r.header.Get("Retry-After"); ra != "1" {
				t.Fatalf("Retry-After %q, want 1", ra)
			}
		case 200:
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	within(t, "throttle rate", n429, faultRequests, 0.2, 0.04)

	for _, c := range []struct {
		d    time.Duration
		want string
	}{{2500 * time.Millisecond, "3"}, {-1, "0"}, {0, "1"}} {
		e.srv.SetFaults(sandbox.Faults{ThrottleRate: 1, RetryAfter: c.d})
		r := e.do(e.key, "GET", "/startup-scripts", nil)
		if r.status != 429 || r.header.Get("Retry-After") != c.want {
			t.Errorf("RetryAfter %v: %d Retry-After %q, want 429 %s", c.d, r.status, r.header.Get("Retry-After"), c.want)
		}
	}
}

// TestAmbiguousRate checks that an ambiguous failure happens after the
// write: every create is in the dump, though a fifth of them failed.
func TestAmbiguousRate(t *testing.T) {
	e := newEnv(t, sandbox.Config{Faults: sandbox.Faults{AmbiguousRate: 0.2, Seed: 9}})
	const n = 1000
	var failed500, dropped int
	bulk := e.unchecked()
	for i := range n {
		c := bulk
		if i < 200 {
			c = e
		}
		r, err := c.try(e.key, "POST", "/startup-scripts", api.StartupScriptCreate{Name: fmt.Sprint(i), Script: "x"})
		switch {
		case err != nil:
			dropped++
		case r.status == 500:
			failed500++
			apiErr(t, r, 500, api.CodeInternalServer)
		case r.status != 201:
			t.Fatalf("status %d %s", r.status, r.body)
		}
	}
	within(t, "ambiguous rate", failed500+dropped, n, 0.2, 0.04)
	if failed500 == 0 || dropped == 0 {
		t.Errorf("%d answered 500 and %d dropped, want both kinds", failed500, dropped)
	}
	d := e.dump(e.key)
	if len(d.StartupScripts) != n {
		t.Errorf("%d scripts after %d creates: an ambiguous failure must still write", len(d.StartupScripts), n)
	}
	st := e.srv.Stats().Requests["POST /startup-scripts"]
	if diff := cmp.Diff(map[int]int{201: n - failed500 - dropped, 500: failed500, 0: dropped}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	// Reads and refused writes are never ambiguous.
	e.srv.SetFaults(sandbox.Faults{AmbiguousRate: 1})
	for range 50 {
		e.call("GET", "/startup-scripts/"+d.StartupScripts[0].ID, nil, http.StatusOK, nil)
		apiErr(t, e.do(e.key, "DELETE", "/startup-scripts/scr_nope", nil), 404, api.CodeNotFound)
	}
	// Every kind of write is: each one happens.
	s := d.StartupScripts[0]
	for _, w := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/startup-scripts/" + s.ID, api.StartupScriptCreate{Name: "renamed", Script: "y"}},
		{"POST", "/startup-scripts/" + s.ID + "/assign", api.MachineRef{MachineID: "psbox005"}},
		{"POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox001", Name: "t"}},
	} {
		if r, err := e.try(e.key, w.method, w.path, w.body); err == nil && r.status < 300 {
			t.Errorf("%s %s: %d at ambiguous rate 1", w.method, w.path, r.status)
		}
	}
	d2 := e.dump(e.key)
	if len(d2.CustomTemplates) != 1 || len(d2.Assignments) != 1 || d2.Assignments[0].ScriptName != "renamed" {
		t.Errorf("ambiguous writes were not made: %+v %+v", d2.CustomTemplates, d2.Assignments)
	}
	e.try(e.key, "DELETE", "/startup-scripts/"+s.ID, nil)
	if len(e.dump(e.key).StartupScripts) != n-1 {
		t.Error("ambiguous delete was not made")
	}
}

// TestRateLimit checks the per-key token bucket: over one second, four
// clients hammering with one key get its burst (one second's worth) plus RPS
// more; another key has its own bucket.
func TestRateLimit(t *testing.T) {
	const rps = 20
	e := newEnv(t, sandbox.Config{
		Keys:   map[string]string{"k1": "team-a", "k2": "team-b"},
		Faults: sandbox.Faults{RPS: rps},
	})
	e.client.Transport = http.DefaultTransport // many requests: skip the spec check
	count := func(key string, d time.Duration) (ok, limited int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					r, err := e.try(key, "GET", "/startup-scripts", nil)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					switch r.status {
					case 200:
						ok++
					case 429:
						limited++
						if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
							t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
						}
					default:
						t.Errorf("status %d", r.status)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return ok, limited
	}
	start := time.Now()
	ok1, lim1 := count("k1", time.Second)
	elapsed := time.Since(start).Seconds()
	want := rps + rps*elapsed
	if float64(ok1) > want+2 || float64(ok1) < 0.85*want || lim1 == 0 {
		t.Errorf("k1: %d allowed, %d limited in %.2fs; want about %.0f allowed", ok1, lim1, elapsed, want)
	} else {
		t.Logf("k1: %d allowed, %d limited in %.2fs (want about %.0f)", ok1, lim1, elapsed, want)
	}
	// k2 has its own full bucket.
	if ok2, _ := count("k2", 100*time.Millisecond); ok2 < rps {
		t.Errorf("k2: only %d allowed in its first 100ms, want its burst of %d", ok2, rps)
	}
	// After a pause the bucket refills.
	time.Sleep(200 * time.Millisecond)
	if r := e.do("k1", "GET", "/startup-scripts", nil); r.status != 200 {
		t.Errorf("after a pause: %d", r.status)
	}
	// The 429 answers are API errors, and the spec check sees them too.
	e.client.Transport = spec.transport(http.DefaultTransport)
	for range 2 * rps {
		if r := e.do("k1", "GET", "/startup-scripts", nil); r.status == 429 {
			apiErr(t, r, 429, api.CodeTooManyRequests)
			break
		}
	}
	// SetFaults without RPS lifts the limit.
	e.srv.SetFaults(sandbox.Faults{})
	if ok, lim := count("k1", 50*time.Millisecond); lim != 0 || ok == 0 {
		t.Errorf("without rps: %d allowed, %d limited", ok, lim)
	}
}

func TestLatency(t *testing.T) {
	const lat, jit = 40 * time.Millisecond, 30 * time.Millisecond
	e := newEnv(t, sandbox.Config{Faults: sandbox.Faults{Latency: lat, Jitter: jit, Seed: 3}})
	var min, max time.Duration = time.Hour, 0
	for range 20 {
		start := time.Now()
		e.call("GET", "/startup-scripts", nil, http.StatusOK, nil)
		d := time.Since(start)
		min, max = minDur(min, d), maxDur(max, d)
	}
	if min < lat || max < lat+jit/3 || max > lat+jit+500*time.Millisecond {
		t.Errorf("latencies from %v to %v, want from %v to %v", min, max, lat, lat+jit)
	}
	// The sandbox endpoints are never delayed.
	start := time.Now()
	e.dump(e.key)
	e.call("GET", "/_sandbox/stats", nil, http.StatusOK, nil)
	if d := time.Since(start); d >= lat {
		t.Errorf("sandbox endpoints took %v", d)
	}
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// TestFaultsSkipSandboxEndpoints: with every API request failing, the
// sandbox endpoints still answer.
func TestFaultsSkipSandboxEndpoints(t *testing.T) {
	e := newEnv(t, sandbox.Config{Faults: sandbox.Faults{ErrorRate: 1, ThrottleRate: 1, AmbiguousRate: 1, RPS: 1}})
	for range 5 {
		if r := e.do(e.key, "GET", "/startup-scripts", nil); r.status < 429 {
			t.Fatalf("API request answered %d", r.status)
		}
		e.dump(e.key)
		e.call("GET", "/_sandbox/stats", nil, http.StatusOK, nil)
		e.call("GET", "/_sandbox/requests", nil, http.StatusOK, nil)
	}
	e.call("POST", "/_sandbox/reset", nil, http.StatusNoContent, nil)
}

// TestFaultsDeterministic: the same seed gives the same fate to the same
// sequence of requests, on a new server or after SetFaults; another seed
// does not.
func TestFaultsDeterministic(t *testing.T) {
	faults := sandbox.Faults{ErrorRate: 0.2, ThrottleRate: 0.1, AmbiguousRate: 0.3, Seed: 42}
	run := func(e *env) string {
		out := ""
		for i := range 200 {
			method, path, body := "GET", "/startup-scripts", any(nil)
			if i%2 == 1 {
				method, path, body = "POST", "/startup-scripts", api.StartupScriptCreate{Name: fmt.Sprint(i), Script: "x"}
			}
			r, err := e.try(e.key, method, path, body)
			if err != nil {
				out += "drop "
				continue
			}
			out += strconv.Itoa(r.status) + " "
		}
		return out
	}
	a := run(newEnv(t, sandbox.Config{Faults: faults}))
	b := newEnv(t, sandbox.Config{Faults: faults})
	if got := run(b); got != a {
		t.Errorf("same seed, different fates:\n%s\n%s", a, got)
	}
	b.srv.SetFaults(faults)
	if got := run(b); got != a {
		t.Errorf("after SetFaults, different fates:\n%s\n%s", a, got)
	}
	faults.Seed = 43
	if got := run(newEnv(t, sandbox.Config{Faults: faults})); got == a {
		t.Error("seeds 42 and 43 give the same fates")
	}
}

// TestFaultsUnderConcurrency: concurrent requests get exactly the fates
// the seed deals, whatever their interleaving (counted over all of them).
func TestFaultsUnderConcurrency(t *testing.T) {
	faults := sandbox.Faults{ErrorRate: 0.25, Seed: 5}
	count := func() map[int]int {
		e := newEnv(t, sandbox.Config{Faults: faults})
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					r, err := e.try(e.key, "GET", "/os-templates", nil)
					if err != nil {
						t.Errorf("worker %d: %v", w, err)
						return
					}
					mu.Lock()
					counts[r.status]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return counts
	}
	a, b := count(), count()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different totals (-first +second):\n%s", diff)
	}
}
