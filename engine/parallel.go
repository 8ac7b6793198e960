package engine

import (
	"fmt"
	"reflect"

	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/gomlx/compute"
)

// ParallelOps makes the pure-Go backend run a graph's independent ops at the
// same time, with no bound on compute's worker pool; other backends are left
// as they are. Training graphs gain most: a backward pass has many
// independent matmuls and element-wise chains, and one op at a time leaves a
// core idle through every op too small to split (GPT-2-shaped step: 1.3×).
//
// Why unbounded: compute v0.1.2 runs each ready op as a task of its worker
// pool, and some of its stock kernels (matmuls of dtypes glia's kernels do
// not cover, Erf, big unary ops) start their own tasks from inside one and
// wait for a free slot. With a bounded pool, every slot can end up held by
// such a waiter (a vocab-512 model hung at step 680). Unbounded, a task
// never waits for a slot, so that cannot happen; Go's scheduler still runs
// only GOMAXPROCS of them at once.
//
// Results do not depend on the order: every kernel computes each output
// element the same way whichever op runs beside it (train.TestParallelOps
// checks the bits). Memory can rise: ops that would have run one after the
// other now hold their outputs at the same time. The engine's own forward
// passes keep the default (a bounded pool), which keeps chunked attention's
// one-chunk-at-a-time memory bound. Call it before the graphs run.
func ParallelOps(be compute.Backend) error {
	if !kernels.IsGoBackend(be) {
		return nil
	}
	v := reflect.ValueOf(be).Elem()
	mode, pool := v.FieldByName("OpsExecutionType"), v.FieldByName("Workers")
	set := pool.MethodByName("SetMaxParallelism")
	// The names and the value 1 (OpsExecutionParallel) are compute v0.1.2's;
	// go.mod pins it, and a rename fails here, not silently.
	if !mode.IsValid() || !mode.CanSet() || mode.Type().Name() != "OpsExecutionType" || !set.IsValid() {
		return fmt.Errorf("engine: this version of compute's Go backend has no OpsExecutionType/Workers to set parallel ops with")
	}
	mode.SetInt(1)
	set.Call([]reflect.Value{reflect.ValueOf(-1)})
	return nil
}
