//go:build !unix

package bench

import "time"

// selfCPU is not measured here: the figures that need it are left out.
func selfCPU() (time.Duration, bool) { return 0, false }
