package engine

import (
	"errors"
	"sync"
	"weak"

	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/glia-dev/glia/engine/cpu/sgemm"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
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

// pinWeights lets glia's matmul keep the model's weight matrices packed
// across forward passes (sgemm.Pin): they never change while loaded, and
// packing them on every product was 4% of a GPT-2 forward. The pins hold
// while the model is reachable (a weak pointer: once it is not, its weights
// may be freed and their addresses reused) and until unpinWeights, which
// whatever replaces or frees the weights calls first. Matrices below 16K
// floats are left: packing them is cheap, and the budget goes further.
func (m *Model) pinWeights() {
	if !kernels.IsGoBackend(m.backend) || !CPUKernels().Matmul || m.DType() != dtypes.Float32 {
		return
	}
	wp := weak.Make(m)
	alive := func() bool { return wp.Value() != nil }
	for i, s := range m.specs {
		if len(s.Shape) != 2 || s.Shape[0]*s.Shape[1] < 1<<14 {
			continue
		}
		tensors.MustConstFlatData(m.weights[i], func(flat []float32) { m.unpin = append(m.unpin, sgemm.Pin(flat, alive)) })
	}
}

func (m *Model) unpinWeights() {
	for _, f := range m.unpin {
		f()
	}
	m.unpin = nil
}
