// Package procs sets how many processors the Go runtime gives psync.
//
// psync is I/O-bound: its goroutines wait on the API, and its journal syncs
// a file after every group of changes. A goroutine in a blocking system
// call (a sync takes about a millisecond) keeps its processor, and the
// runtime does not hand that processor over while another one is idle. On a
// two-core machine (GOMAXPROCS 2, the default there) every sync thus leaves
// one processor for a burst of answers, and at --parallelism 32 an apply ran
// measurably slower: see bench/README.md. Idle processors cost nothing, so
// psync runs with at least Floor of them.
package procs

import (
	"os"
	"runtime"
)

// Floor is the least GOMAXPROCS psync runs with.
const Floor = 4

// Raise sets GOMAXPROCS to Floor when it is lower, unless the GOMAXPROCS
// environment variable sets it: the user's setting wins. A higher value
// (more cores) is left alone, and so keeps following the machine's CPU
// limit as the runtime updates it. Raise returns the value in effect.
func Raise() int {
	if n := runtime.GOMAXPROCS(0); n < Floor && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(Floor)
	}
	return runtime.GOMAXPROCS(0)
}
