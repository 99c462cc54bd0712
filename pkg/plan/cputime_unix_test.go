//go:build unix

package plan

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used (user + system), so that
// benchmarks on a shared, busy machine can report what they cost rather
// than how long they waited.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
