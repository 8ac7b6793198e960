package cli

import (
	"fmt"
	"os"
	"sync"
)

var warnOnce sync.Once

// warnIfSlowBuild prints one line when the binary was built without
// GOEXPERIMENT=simd: GoMLX's CPU backend then runs ~30x slower.
func warnIfSlowBuild() {
	if simdBuild || os.Getenv("GLIA_NO_SIMD_WARNING") != "" {
		return
	}
	warnOnce.Do(func() {
		fmt.Fprintln(Stderr, "glia: warning: built without GOEXPERIMENT=simd; the CPU backend runs at a fraction of its speed (rebuild with GOEXPERIMENT=simd)")
	})
}
