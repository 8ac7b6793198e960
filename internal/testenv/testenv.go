// Package testenv holds what the measurements run by hand (GLIA_LONG=1)
// share: integer settings from the environment and the peak RSS.
package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Int is $name as a positive integer, def when unset.
func Int(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("$%s=%q: want a positive integer", name, s)
	}
	return n
}

// PeakRSS is the process's peak resident set (VmHWM) in MiB, or 0 where
// /proc does not say.
func PeakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
