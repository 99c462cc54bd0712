package remote

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is the one token bucket shared by every goroutine of a Client.
// It starts at the configured rate and adapts to the API like TCP adapts
// to a link (AIMD with a remembered ceiling):
//
//   - a 429 is taken as a rate limit only when throttled answers are a real
//     share of the recent ones (at least 3, and 10% of the last 128): a
//     sporadic 429 (an API hiccup) is retried after its Retry-After and
//     leaves the rate alone, or a few of them would ratchet it down;
//   - on a rate-limit 429 it estimates the rate the API actually accepted over the last
//     couple of seconds, remembers it as the ceiling and halves the rate
//     (at most once a second: the requests already in flight answer 429
//     too, and must not halve it again);
//   - on success it climbs back quickly (×1.25 every 250ms) to just under
//     the ceiling, holds there, and then probes upwards slowly (+5% a
//     second) in case the limit was raised, never above the configured
//     rate.
//
// The bucket's burst is 1, so requests are spread evenly instead of
// arriving in clumps that a server-side bucket would reject.
type limiter struct {
	lim *rate.Limiter
	max float64 // configured rate; +Inf for unlimited

	mu           sync.Mutex
	cur          float64
	ceiling      float64 // estimated server limit; 0 = unknown
	lastDecrease time.Time
	lastChange   time.Time
	ring         [256]time.Time // recent successes, for the rate estimate
	ringN        int
	outcomes     [128]bool // recent answers, true for a 429
	outcomesN    int
	now          func() time.Time
}

const (
	limiterStep     = 250 * time.Millisecond
	limiterHold     = 5 * time.Second
	limiterDebounce = time.Second
	limiterWindow   = 2 * time.Second
	limiterMin      = 0.5 // requests per second; never slower
	// limiterMinThrottled and limiterThrottledShare say when 429s are a
	// rate limit rather than noise.
	limiterMinThrottled   = 3
	limiterThrottledShare = 0.10
)

func newLimiter(rps float64) *limiter {
	l := &limiter{now: time.Now}
	if rps <= 0 {
		l.max = math.Inf(1)
		l.cur = math.Inf(1)
		l.lim = rate.NewLimiter(rate.Inf, 1)
		return l
	}
	l.max = rps
	l.cur = rps
	l.lim = rate.NewLimiter(rate.Limit(rps), 1)
	return l
}

// Wait blocks until the bucket allows one more request.
func (l *limiter) Wait(ctx context.Context) error { return l.lim.Wait(ctx) }

// Rate returns the current allowed rate (+Inf when unlimited).
func (l *limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// ok records a request the API did not throttle.
func (l *limiter) ok() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.ring[l.ringN%len(l.ring)] = now
	l.ringN++
	l.record(false)
	if l.cur >= l.max || now.Sub(l.lastChange) < limiterStep {
		return
	}
	target := l.max
	if l.ceiling > 0 {
		target = math.Min(l.max, 0.95*l.ceiling)
	}
	switch {
	case l.cur < target:
		l.cur = math.Min(target, l.cur*1.25)
	case now.Sub(l.lastDecrease) >= limiterHold && now.Sub(l.lastChange) >= time.Second:
		// Probe: the limit may have been raised, or the estimate was low.
		l.ceiling *= 1.05
		l.cur = math.Min(l.max, 0.95*l.ceiling)
	default:
		return
	}
	l.set(now)
}

// throttled records a 429 and slows the bucket down.
func (l *limiter) throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.record(true)
	if !l.limited() {
		return
	}
	if !l.lastDecrease.IsZero() && now.Sub(l.lastDecrease) < limiterDebounce {
		return
	}
	est := l.recentRate(now)
	if est <= 0 || est > l.cur {
		est = l.cur
	}
	if math.IsInf(est, 1) {
		est = 10 // unlimited and no history: a modest guess, refined by the next 429
	}
	l.ceiling = math.Max(est, limiterMin)
	l.cur = math.Max(l.ceiling/2, limiterMin)
	l.lastDecrease = now
	l.set(now)
}

// record remembers one answer: throttled or not.
func (l *limiter) record(throttled bool) {
	l.outcomes[l.outcomesN%len(l.outcomes)] = throttled
	l.outcomesN++
}

// limited reports whether the recent 429s look like a rate limit: enough
// of them, and a real share of the recent answers.
func (l *limiter) limited() bool {
	n := min(l.outcomesN, len(l.outcomes))
	k := 0
	for i := range n {
		if l.outcomes[i] {
			k++
		}
	}
	return k >= limiterMinThrottled && float64(k) >= limiterThrottledShare*float64(n)
}

// recentRate is the rate of accepted requests over the last window, or 0
// when there are too few to tell.
func (l *limiter) recentRate(now time.Time) float64 {
	n := 0
	oldest := now
	for i := 0; i < len(l.ring) && i < l.ringN; i++ {
		t := l.ring[(l.ringN-1-i)%len(l.ring)]
		if now.Sub(t) > limiterWindow {
			break
		}
		n++
		oldest = t
	}
	if n < 4 {
		return 0
	}
	// n samples span n-1 intervals; a burst is spread over at least half
	// the window so it does not read as a huge rate.
	span := now.Sub(oldest)
	if span < limiterWindow/2 {
		span = limiterWindow / 2
	}
	return float64(n-1) / span.Seconds()
}

func (l *limiter) set(now time.Time) {
	l.lastChange = now
	if math.IsInf(l.cur, 1) {
		l.lim.SetLimitAt(now, rate.Inf)
		return
	}
	l.lim.SetLimitAt(now, rate.Limit(l.cur))
}
