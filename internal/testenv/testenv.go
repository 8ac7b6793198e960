// Package testenv holds what tests share across packages: models loaded
// once per test binary, a test re-run in a child process, and for the
// measurements run by hand (GLIA_LONG=1) integer settings from the
// environment and the peak RSS.
package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/glia-dev/glia/engine"
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

var models sync.Map

// Model loads the model at dir ("" is the embedded stories260K) once per
// test binary.
func Model(t testing.TB, dir string) *engine.Model {
	t.Helper()
	if m, ok := models.Load(dir); ok {
		return m.(*engine.Model)
	}
	m, err := engine.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	models.Store(dir, m)
	return m
}

// Prompt is n token ids spread over m's vocabulary.
func Prompt(m *engine.Model, n int) []int32 {
	v := m.Dims().Vocab
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32((i*7919 + 13) % v)
	}
	return ids
}

// Child runs test alone in a child process of the test binary, with env
// added (settings a process takes once, such as which kernels to
// install), and returns its verbose output; a child that fails fails t.
func Child(t testing.TB, test string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a child process (%s): %v\n%s", test, strings.Join(env, " "), err, out)
	}
	return string(out)
}
