//go:build !unix

package benchmark

import "time"

// processCPU is not measured where getrusage is missing.
func processCPU() time.Duration { return 0 }
