package remote

import (
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func near(a, b float64) bool { return math.Abs(a-b) < 0.01 }

func TestLimiterSlowsDownAndRecovers(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(20)
	l.now = clk.now

	// 16 requests/s accepted for two seconds, then the API's limit answers
	// 429 to the requests in flight: the ceiling is what the API accepted,
	// and the rate halves from there.
	for range 32 {
		clk.advance(time.Second / 16)
		l.ok()
	}
	if !near(l.Rate(), 20) {
		t.Fatalf("rate %v before any 429, want 20", l.Rate())
	}
	throttleBurst(l, 4) // 4 of the last 36 answers: over 10%
	if got := l.Rate(); !near(got, 8) {
		t.Fatalf("rate after a 429 = %v, want 8 (half of the 16/s accepted)", got)
	}
	// The requests already in flight answer 429 too: no second halving.
	clk.advance(100 * time.Millisecond)
	l.throttled()
	if got := l.Rate(); !near(got, 8) {
		t.Fatalf("rate after a second 429 within the debounce = %v, want 8", got)
	}
	if got := float64(l.lim.Limit()); !near(got, 8) {
		t.Fatalf("bucket limit %v, want 8", got)
	}

	// Quick recovery to just under the ceiling (0.95·16 = 15.2) within a
	// second or so...
	for range 8 {
		clk.advance(limiterStep)
		l.ok()
	}
	if got := l.Rate(); !near(got, 15.2) {
		t.Fatalf("rate after recovery = %v, want 15.2", got)
	}
	// ...and there it holds while the workers ask for less than that:
	// a probe would test nothing.
	for range 200 {
		clk.advance(limiterStep)
		l.ok()
	}
	if got := l.Rate(); !near(got, 15.2) {
		t.Fatalf("rate after a calm at 4 requests/s = %v, want it held at 15.2", got)
	}
	// Then, while the bucket sets the pace, probing up to the configured
	// rate.
	saturate(l, clk, 20*time.Second)
	if got := l.Rate(); !near(got, 20) {
		t.Fatalf("rate after probing = %v, want the configured 20", got)
	}
}

// saturate sends requests for d at the rate the limiter allows, all
// accepted: workers that have more to do than the limit lets them, up to
// their own most, 1,000 requests a second.
func saturate(l *limiter, clk *fakeClock, d time.Duration) {
	for end := clk.t.Add(d); clk.t.Before(end); {
		clk.advance(time.Duration(float64(time.Second) / min(l.Rate(), 1000)))
		l.ok()
	}
}

// Once a limit is known, a rate a little above it (a few 429s, far under
// the 10% that first reveals a limit) is corrected at once: the rate
// settles under what the API accepted. Left alone, a 5% excess would be
// 5% of all answers throttled for the rest of the apply.
func TestLimiterSettlesUnderAKnownLimit(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(0)
	l.now = clk.now
	l.ceiling, l.cur = 110, 104.5 // a probe above the API's 100/s
	l.set(clk.t)
	// The API accepts 100/s; the excess answers 429.
	for i := range 30 {
		clk.advance(10 * time.Millisecond)
		if i%20 == 9 {
			l.throttled()
		} else {
			l.ok()
		}
	}
	if got := l.Rate(); got > 100 {
		t.Fatalf("rate after 429s above a known limit = %v, want it under 100", got)
	}
	if l.hold != 2*limiterHold {
		t.Errorf("hold after a probe met the limit = %v, want %v", l.hold, 2*limiterHold)
	}
	// The requests in flight answer 429 too: that is no second decrease.
	before := l.Rate()
	clk.advance(50 * time.Millisecond)
	throttleBurst(l, 5)
	if got := l.Rate(); got != before {
		t.Errorf("rate after in-flight 429s = %v, want %v", got, before)
	}
}

func TestLimiterUnlimited(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(0)
	l.now = clk.now
	for range 100 {
		clk.advance(10 * time.Millisecond)
		l.ok()
	}
	if !math.IsInf(l.Rate(), 1) {
		t.Fatalf("rate %v, want unlimited", l.Rate())
	}
	throttleBurst(l, 12) // 12 of the last 112 answers
	// 100 requests 10ms apart: ceiling 99/s, rate 49.5.
	if got := l.Rate(); !near(got, 49.5) {
		t.Fatalf("rate after a 429 = %v, want 49.5", got)
	}
	saturate(l, clk, 20*time.Second)
	if got := l.Rate(); got < 100 {
		t.Fatalf("rate after a long calm = %v, want it probing above the old ceiling", got)
	}
}

// A limit met at full speed answers 429 to every request in flight at
// once: three of them together are a limit, long before they are 10% of
// the answers, and each of them costs a worker a Retry-After.
func TestLimiterSeesClustered429s(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(0)
	l.now = clk.now
	for range 100 { // the API's burst, taken in 50ms
		clk.advance(500 * time.Microsecond)
		l.ok()
	}
	throttleBurst(l, 2)
	if !math.IsInf(l.Rate(), 1) {
		t.Fatalf("rate after two 429s = %v, want still unlimited", l.Rate())
	}
	throttleBurst(l, 1)
	// 100 accepted in 50ms reads as 99 over a second, not as 2,000/s.
	if got := l.Rate(); !near(got, 49.5) {
		t.Fatalf("rate after three 429s together = %v, want 49.5", got)
	}
	tr := l.throttle()
	if !tr.Learnt || !near(tr.Rate, 49.5) {
		t.Errorf("throttle = %+v, want a learnt 49.5", tr)
	}
}

// throttleBurst records n 429s at once, as the requests in flight meet a
// rate limit together.
func throttleBurst(l *limiter, n int) {
	for range n {
		l.throttled()
	}
}

// Sporadic 429s (an API hiccup, not a limit) are retried but do not slow
// the client down: slowing on each would ratchet the rate to a crawl.
func TestLimiterIgnoresSporadic429s(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(100)
	l.now = clk.now
	for i := range 2000 {
		clk.advance(10 * time.Millisecond)
		if i%25 == 24 { // 4% of answers, evenly spread
			l.throttled()
		} else {
			l.ok()
		}
	}
	if got := l.Rate(); !near(got, 100) {
		t.Errorf("rate after sporadic 429s = %v, want the configured 100", got)
	}
	// Then a real limit: most answers throttled. Now it slows down.
	for range 20 {
		clk.advance(10 * time.Millisecond)
		l.throttled()
	}
	if got := l.Rate(); got >= 100 {
		t.Errorf("rate while mostly throttled = %v, want it lowered", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 2 ", 2 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"-1", 0},
		{"0", 0},
		{"999999999", 0},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{now.Add(-7 * time.Second).Format(http.TimeFormat), 0},
		{"Tuesday", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// A probe that meets the limit goes back under the rate that held before
// it, not to what the API accepted during the probe (its saved-up burst
// let the probe through for a while), and waits twice as long to probe
// again.
func TestLimiterRevertsAFailedProbe(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(0)
	l.now = clk.now
	l.ceiling, l.cur = 100, 95
	l.lastDecrease = clk.t
	l.set(clk.t)
	saturate(l, clk, l.hold+1500*time.Millisecond) // the hold, then a probe
	if l.Rate() <= 95 {
		t.Fatalf("rate after the hold = %v, want a probe above 95", l.Rate())
	}
	throttleBurst(l, 2)
	if got := l.Rate(); !near(got, 0.95*95) {
		t.Errorf("rate after a failed probe = %v, want 95%% of the 95 before it", got)
	}
	if l.hold != 2*limiterHold {
		t.Errorf("hold after a failed probe = %v, want %v", l.hold, 2*limiterHold)
	}
}

// An API that answers 429 at random, whatever the load (a flaky gateway),
// is no rate limit: each pair of its 429s used to take another 24% off the
// rate, down to limiterMin, so that 5% of answers throttled held an apply
// at about 1 request/s. Lowering the rate does not lower their share: the
// limiter undoes its decreases and keeps that share as noise.
func TestLimiterIgnoresRandom429s(t *testing.T) {
	for _, share := range []float64{0.05, 0.1, 0.2} {
		clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		l := newLimiter(0)
		l.now = clk.now
		rng := rand.New(rand.NewPCG(1, 2))
		// Workers that could send 200 requests/s, for two minutes.
		accepted, start := 0, clk.t
		for end := clk.t.Add(2 * time.Minute); clk.t.Before(end); {
			clk.advance(time.Duration(float64(time.Second) / min(l.Rate(), 200)))
			if rng.Float64() < share {
				l.throttled()
			} else {
				l.ok()
				accepted++
			}
		}
		// Before, 1.4 to 30 requests/s were accepted.
		if got := float64(accepted) / clk.t.Sub(start).Seconds(); got < 100 {
			t.Errorf("%.0f%% of answers 429 at random: %.1f requests/s accepted, want most of the workers' 200 (100 or more)", 100*share, got)
		}
		if l.noise < share/2 {
			t.Errorf("%.0f%% of answers 429 at random: noise %v, want it learnt", 100*share, l.noise)
		}
	}
}

// A real limit is never taken for noise: against a server bucket of 50 or
// 100 requests/s (a second's burst) the 429s' share falls as the rate
// falls, and the limiter holds just under the limit as before.
func TestLimiterTakesARealLimitForOne(t *testing.T) {
	for _, lim := range []float64{50, 100} {
		clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		l := newLimiter(0)
		l.now = clk.now
		server := rate.NewLimiter(rate.Limit(lim), int(lim))
		accepted, throttled, start := 0, 0, clk.t
		for end := clk.t.Add(2 * time.Minute); clk.t.Before(end); {
			clk.advance(time.Duration(float64(time.Second) / min(l.Rate(), 200)))
			if server.AllowN(clk.t, 1) {
				l.ok()
				accepted++
			} else {
				l.throttled()
				throttled++
			}
		}
		if l.noise != 0 {
			t.Errorf("limit %v: noise %v, want none (the 429s were a limit)", lim, l.noise)
		}
		if got := float64(accepted) / clk.t.Sub(start).Seconds(); got < 0.9*lim {
			t.Errorf("limit %v: accepted %.1f requests/s, want 90%% of the limit or more", lim, got)
		}
		if share := float64(throttled) / float64(accepted+throttled); share > 0.02 {
			t.Errorf("limit %v: %.1f%% of answers 429, want under 2%%", lim, 100*share)
		}
	}
}
