package engine

import (
	"errors"
	"sync"

	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/gomlx/compute"
)

// CPU kernels.
//
// glia's CPU kernels (engine/cpu/kernels) replace the float32 matmul and
// several element-wise executors of GoMLX's pure-Go backend through
// go:linkname, for the whole process: every graph built on that backend,
// by glia or by anything else the program runs, then uses them. A library
// must not do that to the program that imports it, so they are off unless
// the program asks with UseCPUKernels(true) before its first model loads;
// glia's CLI does (cli.Main). Off, the backend runs compute's stock
// kernels and attention is not chunked, since compute's matmul can
// deadlock on chunked attention's parallel branches.
//
// Race builds are the exception: compute's matmuls fail checkptr,
// so glia's replaces them even when the kernels are off (kernels.InstallRequired).

// defaultAttnChunk is the query chunk of long attention (arch.Inputs.AttnChunk)
// where glia's matmul or another backend runs it.
const defaultAttnChunk = 512

var cpu struct {
	mu      sync.Mutex
	use     bool
	started bool // Backend has run: the choice is made
	report  kernels.Report
	chunk   int
}

// ErrBackendStarted is returned by UseCPUKernels once the backend exists
// with the other choice.
var ErrBackendStarted = errors.New("engine: UseCPUKernels called after the backend was created with the other choice")

// UseCPUKernels chooses whether GoMLX's Go backend runs glia's CPU kernels
// for the whole process (off by default; see above). Call it before the
// first model loads; afterwards it changes nothing and returns
// ErrBackendStarted if on differs from the choice already made.
func UseCPUKernels(on bool) error {
	cpu.mu.Lock()
	defer cpu.mu.Unlock()
	if cpu.started {
		if on != cpu.use {
			return ErrBackendStarted
		}
		return nil
	}
	cpu.use = on
	return nil
}

// CPUKernels says which kernels the backend runs: glia's (and which) or
// compute's stock ones and why. It is zero before the backend exists.
func CPUKernels() kernels.Report {
	cpu.mu.Lock()
	defer cpu.mu.Unlock()
	return cpu.report
}

// setUpCPU installs the chosen kernels into a new Go backend and chooses
// the attention chunk; Backend calls it once.
func setUpCPU(be compute.Backend) {
	cpu.mu.Lock()
	defer cpu.mu.Unlock()
	cpu.started, cpu.chunk = true, defaultAttnChunk
	if !kernels.IsGoBackend(be) {
		return
	}
	if cpu.use {
		cpu.report = kernels.Install(be)
	} else if cpu.report = kernels.InstallRequired(be); len(cpu.report.Installed) == 0 {
		cpu.report = kernels.Report{Skipped: "off: the program did not call engine.UseCPUKernels(true)"}
	}
	if !cpu.report.Matmul {
		// Chunked attention's parallel branches would run compute's own
		// matmul, which can deadlock waiting for its worker pool.
		cpu.chunk = 0
	}
}

// attnChunk is the attention query chunk for graphs built on the backend.
func attnChunk() int {
	cpu.mu.Lock()
	defer cpu.mu.Unlock()
	return cpu.chunk
}
