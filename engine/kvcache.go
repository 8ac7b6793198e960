package engine

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// kvRun generates one sequence with a KV cache: the prompt runs once, then
// each step runs only the newest token against the cached keys and values
// of all before it, through one compiled graph for every step.
type kvRun struct {
	m        *Model
	capacity int               // cache slots (positions)
	k, v     []*tensors.Tensor // per layer [1, capacity, kv_heads, d_head]
	n        int               // positions cached
}

// kvBucket rounds cache capacities up so that generations of similar
// lengths share compiled graphs.
const kvBucket = 64

func (m *Model) newKVRun(positions int) *kvRun {
	d := m.Dims()
	c := (positions + kvBucket - 1) / kvBucket * kvBucket
	if d.MaxCtx > 0 {
		c = min(c, d.MaxCtx)
	}
	r := &kvRun{m: m, capacity: c}
	for range d.Layers {
		r.k = append(r.k, tensors.FromShape(r.shape()))
		r.v = append(r.v, tensors.FromShape(r.shape()))
	}
	return r
}

func (r *kvRun) shape() shapes.Shape {
	d := r.m.Dims()
	return shapes.Make(r.m.DType(), 1, r.capacity, d.KVHeads, d.DHead)
}

// next runs the tokens of seq not yet cached and returns the logits after
// the last one.
func (r *kvRun) next(seq []int32) ([]float32, error) {
	ids := seq[r.n:]
	t := len(ids)
	if t == 0 || r.n+t > r.capacity {
		return nil, fmt.Errorf("engine: KV cache of %d positions cannot take %d more after %d", r.capacity, t, r.n)
	}
	exec, err := r.m.kvExec(t, r.capacity)
	if err != nil {
		return nil, err
	}
	pos := make([]int32, t)
	for i := range pos {
		pos[i] = int32(r.n + i)
	}
	args := []any{tensors.FromFlatDataAndDimensions(append([]int32(nil), ids...), 1, t), tensors.FromFlatDataAndDimensions(pos, 1, t), tensors.FromScalar(int32(r.n))}
	for _, k := range r.k {
		args = append(args, k)
	}
	for _, v := range r.v {
		args = append(args, v)
	}
	for _, w := range r.m.weights {
		args = append(args, w)
	}
	outs, err := exec.Call(args...)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	layers := len(r.k)
	r.close()
	r.k, r.v = outs[1:1+layers:1+layers], outs[1+layers:1+2*layers]
	r.n += t
	logits := hostFloat32(outs[0])
	outs[0].FinalizeAll()
	return logits, nil
}

// close frees the cache.
func (r *kvRun) close() {
	for _, x := range r.k {
		x.FinalizeAll()
	}
	for _, x := range r.v {
		x.FinalizeAll()
	}
	r.k, r.v = nil, nil
}

// kvExec compiles the incremental forward for t new tokens and a cache of
// capacity slots: inputs [ids, pos, len, K..., V..., weights...], outputs
// [logits of the last token [1, vocab], K'..., V'...].
func (m *Model) kvExec(t, capacity int) (*Exec, error) {
	key := fmt.Sprintf("kv|1x%d|cap=%d|%s", t, capacity, m.DType())
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.execs[key]; ok {
		return e, nil
	}
	d := m.Dims()
	fn := func(inputs []*Node) []*Node {
		c := &arch.KVCache{
			K:   append([]*Node(nil), inputs[3:3+d.Layers]...),
			V:   append([]*Node(nil), inputs[3+d.Layers:3+2*d.Layers]...),
			Len: inputs[2],
		}
		in := arch.Inputs{IDs: inputs[0], Pos: inputs[1], Mask: GreaterOrEqual(inputs[1], ScalarZero(inputs[1].Graph(), dtypes.Int32)), Cache: c, AttnChunk: attnChunk()}
		logits := m.Family.Forward(m.weightNodes(inputs[3+2*d.Layers:]), in, hook.NewPoints()) // [1, t, vocab]
		last := Reshape(Slice(logits, AxisRange(), AxisElem(t-1), AxisRange()), 1, d.Vocab)
		return append(append([]*Node{asFloat32(last)}, c.K...), c.V...)
	}
	kv := shapes.Make(m.DType(), 1, capacity, d.KVHeads, d.DHead)
	in := []shapes.Shape{shapes.Make(dtypes.Int32, 1, t), shapes.Make(dtypes.Int32, 1, t), shapes.Make(dtypes.Int32)}
	for range 2 * d.Layers {
		in = append(in, kv)
	}
	return m.compileLocked(key, fn, in)
}
