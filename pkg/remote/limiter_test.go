package remote

import (
	"math"
	"net/http"
	"testing"
	"time"
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
	// ...then, after the hold time, slow probing up to the configured rate.
	for range 200 {
		clk.advance(limiterStep)
		l.ok()
	}
	if got := l.Rate(); !near(got, 20) {
		t.Fatalf("rate after probing = %v, want the configured 20", got)
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
	for range 1000 {
		clk.advance(limiterStep)
		l.ok()
	}
	if got := l.Rate(); got < 100 {
		t.Fatalf("rate after a long calm = %v, want it probing above the old ceiling", got)
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
