package remote

import (
	"testing"
	"time"
)

// The wait after attempt n is drawn uniformly from [0, base·2ⁿ⁻¹], the
// ceiling capped at max: full jitter over an exponential ceiling.
func TestBackoffIsFullJitterOverADoublingCeiling(t *testing.T) {
	const base, max = 250 * time.Millisecond, 15 * time.Second
	var asked int64
	highest := func(k int64) int64 { asked = k; return k - 1 }
	lowest := func(int64) int64 { return 0 }
	for n, want := range map[int]time.Duration{
		1: 250 * time.Millisecond, 2: 500 * time.Millisecond, 3: time.Second, 4: 2 * time.Second,
		6: 8 * time.Second, 7: max, 40: max, 100: max,
	} {
		if got := backoff(n, base, max, highest); got != want {
			t.Errorf("attempt %d: the longest wait is %s, want %s", n, got, want)
		}
		if asked != int64(want)+1 {
			t.Errorf("attempt %d: drew from [0, %d), want [0, %d)", n, asked, int64(want)+1)
		}
		if got := backoff(n, base, max, lowest); got != 0 {
			t.Errorf("attempt %d: the shortest wait is %s, want 0 (full jitter)", n, got)
		}
	}
}
