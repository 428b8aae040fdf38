//go:build !unix

package recommender

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
