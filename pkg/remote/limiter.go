package remote

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// limiter is the one token bucket shared by every goroutine of a Client.
// It starts at the configured rate (by default none: the client's own
// limit must never be what makes an apply slow against an API that does
// not throttle) and learns the API's limit from its 429s, like TCP learns
// a link's (AIMD with a remembered ceiling):
//
//   - before any limit is known, a 429 is taken as a rate limit only when
//     throttled answers come together (3 of the last 8) or are a real
//     share of the recent ones (3, and 10% of the last 128): a sporadic
//     429 (an API hiccup) is retried after its Retry-After and leaves the
//     rate alone, or a few of them would ratchet it down;
//   - on the first rate-limit 429 it estimates the rate the API accepted
//     over the last couple of seconds, remembers it as the ceiling and
//     halves the rate (the requests in flight answer 429 too, and must not
//     halve it again: at most one decrease a second);
//   - once a limit is known, two 429s at the current rate mean it is
//     above the limit: the ceiling becomes the rate the API accepted, and
//     the rate just under it;
//   - on success it climbs back quickly (×1.25 every 250ms) to just under
//     the ceiling (95%), holds there, and then, only while the bucket is
//     what holds requests back, probes upwards (+5%, then +10%, +20%, …
//     a second apart) in case the limit was raised, never above the
//     configured rate. A probe that meets the limit goes back to 95% of
//     the rate before it and doubles the hold before the next (up to a
//     minute), so a steady limit costs few 429s;
//   - 429s whose share stays the same although the rate was lowered
//     (over windows of 50 answers since the first decrease; a limit
//     lets the same number through a second, so its share falls with
//     the rate) do not come from psync's rate: the API answers 429 at
//     random, whatever the load. The decreases are undone, and that
//     share is remembered as noise that later 429s must exceed to count
//     as a limit. Without this, each pair of random 429s took another
//     24% off the rate, towards limiterMin: 10% of answers throttled at
//     random held workers that could send 200 requests/s at 2 to 5.
//
// The bucket's burst is 1, so requests are spread evenly instead of
// arriving in clumps that a server-side bucket would reject.
type limiter struct {
	lim *rate.Limiter
	max float64 // configured rate; +Inf for unlimited

	// heldAt is when a request last had to wait for the bucket (unix
	// nanoseconds, wall clock): whether the limit holds an apply back.
	heldAt atomic.Int64

	mu           sync.Mutex
	cur          float64
	ceiling      float64 // estimated server limit; 0 = unknown
	lastDecrease time.Time
	lastChange   time.Time
	hold         time.Duration // at the ceiling before probing
	probeStep    float64       // the next probe's increase
	base         float64       // the rate before the probes began; 0 when not probing
	throttledNow int           // 429s since the rate last changed
	answersNow   int           // answers since the rate last changed
	// The episode is what followed the first decrease: the rate and
	// ceiling before it, the answers and 429s of its windows before the
	// current one and of the current one, of limiterNoiseAnswers answers
	// each (429s within limiterInFlight of a decrease not counted).
	episode                  bool
	pastN, pastThrottled     int
	pastTime                 time.Duration
	winN, winThrottled       int
	winStart                 time.Time
	episodeRate, episodeCeil float64
	noise                    float64        // share of 429s that are not a limit
	ring                     [256]time.Time // recent successes, for the rate estimate
	ringN                    int
	outcomes                 [128]bool // recent answers, true for a 429
	outcomesN                int
	now                      func() time.Time
}

const (
	limiterStep     = 250 * time.Millisecond
	limiterHold     = 5 * time.Second
	limiterHoldMax  = time.Minute
	limiterDebounce = time.Second
	limiterWindow   = 2 * time.Second
	limiterMin      = 0.5 // requests per second; never slower
	// limiterMargin is how far under the ceiling the rate settles.
	limiterMargin = 0.95
	limiterProbe  = 0.05
	// limiterMinThrottled and limiterThrottledShare say when 429s are a
	// rate limit rather than noise, before any limit is known;
	// limiterClustered of the last limiterRecent answers also do.
	limiterMinThrottled   = 3
	limiterThrottledShare = 0.10
	limiterClustered      = 3
	limiterRecent         = 8
	// limiterOver 429s at the current rate, once a limit is known, mean
	// the rate is above it.
	limiterOver = 2
	// Windows of limiterNoiseAnswers answers since the rate was first
	// lowered tell noise from a limit (noiseLike): limiterNoise of them
	// throttled or more, sent at limiterNoiseSlower of the windows'
	// before or less.
	limiterNoiseAnswers = 50
	limiterNoise        = 0.03
	limiterNoiseSlower  = 0.8
	// limiterInFlight after a decrease, 429s are the answers of requests
	// sent before it.
	limiterInFlight = 250 * time.Millisecond
)

func newLimiter(rps float64) *limiter {
	l := &limiter{now: time.Now, hold: limiterHold, probeStep: limiterProbe}
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
func (l *limiter) Wait(ctx context.Context) error {
	r := l.lim.Reserve()
	d := r.Delay()
	if d <= 0 {
		return nil
	}
	l.heldAt.Store(time.Now().UnixNano())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// Rate returns the current allowed rate (+Inf when unlimited).
func (l *limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Throttle is what the client's rate limit is doing, for a progress line.
type Throttle struct {
	// Rate is the requests per second allowed now; +Inf when unlimited.
	Rate float64
	// Learnt is true when Rate comes from the API's 429s, false when it
	// is Config.RateLimit.
	Learnt bool
	// Holding is true when requests waited for the limit in the last
	// second: the limit, not the API's latency, sets the pace.
	Holding bool
}

func (l *limiter) throttle() Throttle {
	held := time.Since(time.Unix(0, l.heldAt.Load())) < time.Second
	l.mu.Lock()
	defer l.mu.Unlock()
	return Throttle{Rate: l.cur, Learnt: l.ceiling > 0 && l.cur < l.max, Holding: held && !math.IsInf(l.cur, 1)}
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
		target = math.Min(l.max, limiterMargin*l.ceiling)
	}
	switch {
	case l.cur < target:
		// One step per limiterStep since the last change: after a pause
		// (every worker waiting out a Retry-After) the rate is back at
		// once.
		steps := math.Floor(float64(now.Sub(l.lastChange)) / float64(limiterStep))
		l.cur = math.Min(target, l.cur*math.Pow(1.25, steps))
	case now.Sub(l.lastDecrease) >= l.hold && now.Sub(l.lastChange) >= time.Second && l.binding(now):
		// Probe: the limit may have been raised, or the estimate was low.
		// A probe that meets the limit is undone by throttled.
		if l.base == 0 {
			l.base = l.cur
		}
		l.ceiling *= 1 + l.probeStep
		l.probeStep = math.Min(2*l.probeStep, 1)
		l.cur = math.Min(l.max, limiterMargin*l.ceiling)
	default:
		return
	}
	l.set(now)
}

// binding reports whether the bucket is what sets the pace: the API
// accepted nearly the allowed rate lately. Probing above a rate the
// workers do not even reach would only raise the ceiling without
// testing it, and the next burst of work would meet the API's limit.
func (l *limiter) binding(now time.Time) bool {
	return l.recentRate(now) >= 0.8*l.cur
}

// throttled records a 429 and slows the bucket down when it is a limit.
func (l *limiter) throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.record(true)
	if !l.lastDecrease.IsZero() && now.Sub(l.lastDecrease) < limiterDebounce {
		// Sent before the last decrease took effect: not a sign that the
		// new rate is too high either.
		return
	}
	l.throttledNow++
	known := l.ceiling > 0
	switch {
	case known && float64(l.throttledNow) < limiterOver+1.5*l.noise*float64(l.answersNow):
		return
	case !known && !l.limited():
		return
	}
	if last, ok := l.noiseLike(now); ok {
		// Lowering the rate did not stop the 429s: they are not psync's
		// rate. Undo the decreases rather than decrease again.
		l.noise = math.Max(l.noise, last)
		l.cur, l.ceiling = l.episodeRate, l.episodeCeil
		l.episode, l.base = false, 0
		l.probeStep, l.hold = limiterProbe, limiterHold
		l.set(now)
		return
	}
	if !l.episode {
		l.episode, l.winN, l.winThrottled, l.pastN, l.pastThrottled, l.pastTime = true, 0, 0, 0, 0, 0
		l.winStart = now
		l.episodeRate, l.episodeCeil = l.cur, l.ceiling
	}
	est := l.recentRate(now)
	if est <= 0 || est > l.cur {
		est = l.cur
	}
	if math.IsInf(est, 1) {
		est = 10 // unlimited and no history: a modest guess, refined by the next 429
	}
	switch {
	case known && l.base > 0 && l.cur > l.base:
		// A probe met the limit: back under the rate that held before it.
		// (What the API accepted during the probe is no measure: a
		// server's bucket saved up while psync held under its limit lets
		// a probe through for a while, and so it may have let the rate
		// before the probe through too.) The next probe waits longer.
		l.ceiling = l.base
		l.cur = math.Max(limiterMargin*l.base, limiterMin)
		l.hold = min(2*l.hold, limiterHoldMax)
	case known:
		// Over a limit already measured: the API accepted about its limit,
		// so settle just under what it accepted.
		l.ceiling = math.Max(est, limiterMin)
		l.cur = math.Max(limiterMargin*l.ceiling, limiterMin)
		l.hold = min(2*l.hold, limiterHoldMax)
	default:
		l.ceiling = math.Max(est, limiterMin)
		l.cur = math.Max(l.ceiling/2, limiterMin)
	}
	l.probeStep = limiterProbe
	l.base = 0
	l.lastDecrease = now
	l.set(now)
}

// record remembers one answer: throttled or not.
func (l *limiter) record(throttled bool) {
	l.outcomes[l.outcomesN%len(l.outcomes)] = throttled
	l.outcomesN++
	l.answersNow++
	if l.episode {
		l.winN++
		if throttled && l.now().Sub(l.lastDecrease) >= limiterInFlight {
			l.winThrottled++
		}
	}
}

// noiseLike reports whether the 429s since the first decrease look like
// noise. Once the last full window's requests went slower than those of
// the windows before it (by limiterNoiseSlower), the two explanations
// predict different shares of 429s: a limit lets through as many
// requests a second as before (the share falls with the rate, to none),
// noise lets through the same share of them. The share met, limiterNoise
// or more, tells which. It returns that share, and starts a new window
// when the current one is full.
func (l *limiter) noiseLike(now time.Time) (float64, bool) {
	if !l.episode || l.winN < limiterNoiseAnswers {
		return 0, false
	}
	span := now.Sub(l.winStart)
	last := float64(l.winThrottled) / float64(l.winN)
	noise := false
	if l.pastN > 0 && span > 0 && l.pastTime > 0 {
		past := float64(l.pastThrottled) / float64(l.pastN)
		rNow, rPast := float64(l.winN)/span.Seconds(), float64(l.pastN)/l.pastTime.Seconds()
		limit := math.Max(0, 1-(1-past)*rPast/rNow)
		noise = rNow <= limiterNoiseSlower*rPast && last >= limiterNoise && math.Abs(last-past) < math.Abs(last-limit)
	}
	l.pastN += l.winN
	l.pastThrottled += l.winThrottled
	l.pastTime += span
	l.winN, l.winThrottled, l.winStart = 0, 0, now
	return last, noise
}

// limited reports whether the recent 429s look like a rate limit: several
// together, or enough of them and a real share of the recent answers.
func (l *limiter) limited() bool {
	n := min(l.outcomesN, len(l.outcomes))
	k, recent := 0, 0
	for i := range n {
		if l.outcomes[(l.outcomesN-1-i)%len(l.outcomes)] {
			k++
			if i < limiterRecent {
				recent++
			}
		}
	}
	if l.noise > 0 {
		// 429s come at random anyway: only a share well above theirs is
		// a limit (and a few together are no sign).
		return k >= limiterMinThrottled && float64(k) >= (l.noise+limiterThrottledShare)*float64(n)
	}
	return recent >= limiterClustered || k >= limiterMinThrottled && float64(k) >= limiterThrottledShare*float64(n)
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
	// the window so it does not read as a huge rate (unless the ring is
	// full of it: then the rate is high indeed).
	span := now.Sub(oldest)
	if span < limiterWindow/2 && n < len(l.ring) {
		span = limiterWindow / 2
	}
	if span <= 0 {
		return 0
	}
	return float64(n-1) / span.Seconds()
}

func (l *limiter) set(now time.Time) {
	l.lastChange = now
	l.throttledNow, l.answersNow = 0, 0
	if math.IsInf(l.cur, 1) {
		l.lim.SetLimitAt(now, rate.Inf)
		return
	}
	l.lim.SetLimitAt(now, rate.Limit(l.cur))
}
