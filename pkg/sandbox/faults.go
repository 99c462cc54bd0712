package sandbox

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Faults are the failures the sandbox injects into API requests (never into
// /_sandbox/ ones). Rates are fractions from 0 to 1. When several apply to
// one request, they are tried in this order: latency, rate limit, throttle,
// error, then (for a successful write) ambiguous.
type Faults struct {
	// Latency delays every API request; Jitter adds a uniformly random
	// extra delay in [0, Jitter).
	Latency, Jitter time.Duration
	// ErrorRate answers 500 or 503 (half each) without doing anything.
	ErrorRate float64
	// ThrottleRate answers 429 with Retry-After without doing anything.
	ThrottleRate float64
	// AmbiguousRate performs a successful write (POST, PUT, DELETE), then
	// answers 500 or drops the connection (half each).
	AmbiguousRate float64
	// RPS is a per-key token-bucket limit (burst: one second's worth);
	// requests beyond it are answered 429 with Retry-After. 0: no limit.
	RPS float64
	// Seed makes the fault decisions deterministic: the n-th API request
	// after New or SetFaults gets the same decisions for the same Seed.
	Seed int64
	// RetryAfter is the Retry-After of throttled (ThrottleRate) answers,
	// rounded up to whole seconds as the header requires; 0 means 1s.
	// A negative value sends "Retry-After: 0".
	RetryAfter time.Duration
}

// Validate reports faults that make no sense.
func (f Faults) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"error rate", f.ErrorRate}, {"throttle rate", f.ThrottleRate}, {"ambiguous rate", f.AmbiguousRate}} {
		if r.v < 0 || r.v > 1 || math.IsNaN(r.v) {
			return fmt.Errorf("%s %v is not a fraction between 0 and 1", r.name, r.v)
		}
	}
	if f.Latency < 0 || f.Jitter < 0 {
		return fmt.Errorf("latency and jitter cannot be negative")
	}
	if f.RPS < 0 || math.IsNaN(f.RPS) || math.IsInf(f.RPS, 0) {
		return fmt.Errorf("rps %v must be a positive number (0: no limit)", f.RPS)
	}
	return nil
}

// faultState is one generation of faults: SetFaults replaces it whole, which
// restarts the decision sequence and the rate limiters.
type faultState struct {
	Faults
	seq      atomic.Uint64
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func newFaultState(f Faults) *faultState {
	return &faultState{Faults: f, limiters: map[string]*rate.Limiter{}}
}

// decision is what happens to one request.
type decision struct {
	delay     time.Duration
	throttle  bool
	errStatus int // 0, 500 or 503
	ambiguous bool
	drop      bool // with ambiguous: drop the connection rather than 500
}

// decide draws the next request's decision. Each request draws from its own
// generator seeded by (Seed, sequence number) and always draws the same
// values, so the n-th request's fate depends only on Seed and n.
func (fs *faultState) decide() decision {
	n := fs.seq.Add(1)
	r := rand.New(rand.NewPCG(uint64(fs.Seed), n))
	var d decision
	d.delay = fs.Latency
	jitter := r.Float64()
	if fs.Jitter > 0 {
		d.delay += time.Duration(jitter * float64(fs.Jitter))
	}
	d.throttle = r.Float64() < fs.ThrottleRate
	isErr, which := r.Float64() < fs.ErrorRate, r.IntN(2)
	if isErr {
		d.errStatus = 500 + 3*which
	}
	d.ambiguous = r.Float64() < fs.AmbiguousRate
	d.drop = r.IntN(2) == 0
	return d
}

// allow takes a token from key's bucket. When none is left it returns how
// long until one will be.
func (fs *faultState) allow(key string) (bool, time.Duration) {
	if fs.RPS <= 0 {
		return true, 0
	}
	fs.mu.Lock()
	lim := fs.limiters[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(fs.RPS), max(1, int(math.Ceil(fs.RPS))))
		fs.limiters[key] = lim
	}
	fs.mu.Unlock()
	now := time.Now()
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing / fs.RPS * float64(time.Second))
}

// retryAfter formats a wait as Retry-After's whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return fmt.Sprint(int64(math.Ceil(d.Seconds())))
}
