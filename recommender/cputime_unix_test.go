//go:build unix

package recommender

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process used so far (user and system), which, unlike the
// wall clock, a machine busy with other work does not inflate.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
