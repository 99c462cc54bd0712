package sandbox

import (
	"math"
	"testing"
)

// TestDecisionsAreUniform checks the per-request generators are not
// correlated across consecutive sequence numbers: over many requests each
// fault's rate is that of the configuration.
func TestDecisionsAreUniform(t *testing.T) {
	const n = 200_000
	for _, seed := range []int64{0, 1, 8, 42} {
		fs := newFaultState(Faults{ErrorRate: 0.2, ThrottleRate: 0.2, AmbiguousRate: 0.2, Seed: seed})
		var thr, errs, e503, amb, drop int
		for range n {
			d := fs.decide()
			if d.throttle {
				thr++
			}
			if d.errStatus != 0 {
				errs++
				if d.errStatus == 503 {
					e503++
				}
			}
			if d.ambiguous {
				amb++
			}
			if d.drop {
				drop++
			}
		}
		// 4 standard deviations of a binomial of n draws at 0.2.
		tol := 4 * math.Sqrt(0.2*0.8/n)
		for name, got := range map[string]float64{"throttle": float64(thr) / n, "error": float64(errs) / n, "ambiguous": float64(amb) / n} {
			if math.Abs(got-0.2) > tol {
				t.Errorf("seed %d: %s rate %.4f, want 0.2 ± %.4f", seed, name, got, tol)
			}
		}
		if got := float64(drop) / n; math.Abs(got-0.5) > 0.01 {
			t.Errorf("seed %d: drop share %.4f", seed, got)
		}
	}
}
