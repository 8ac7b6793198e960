package engine

import (
	"fmt"
	"strings"

	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Compute precision.
//
// A model computes in float32 unless SetDType chooses bfloat16. In bf16 the
// weights live on the backend as bf16 tensors and the activations flow in
// bf16 between layers, with the numerically delicate parts computed in
// float32 as transformers does: RMSNorm/LayerNorm statistics (arch.RMSNorm,
// arch.LayerNorm), rotary cos/sin (arch.Rope) and the attention softmax
// (arch.Attention). Whatever the compute dtype, every output leaves the graph
// as float32 (converted in-graph), so Result arrays are always float32, and
// interventions see and return float32 values.

// ParseDType reads a compute dtype name: f32 (fp32, float32) or bf16
// (bfloat16). The empty string is float32.
func ParseDType(s string) (dtypes.DType, error) {
	switch strings.ToLower(s) {
	case "", "f32", "fp32", "float32":
		return dtypes.Float32, nil
	case "bf16", "bfloat16":
		return dtypes.BFloat16, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("engine: unknown dtype %q (want f32 or bf16)", s)
}

// DTypeName is the short name ParseDType reads back: "f32" or "bf16".
func DTypeName(dt dtypes.DType) string {
	if dt == dtypes.BFloat16 {
		return "bf16"
	}
	return "f32"
}

// DType is the model's compute dtype (float32 unless SetDType changed it).
func (m *Model) DType() dtypes.DType {
	if m.dtype == dtypes.InvalidDType {
		return dtypes.Float32
	}
	return m.dtype
}

// SetDType converts the weights to dt (float32 or bfloat16) and drops the
// compiled graphs. Converting bf16 back to float32 does not restore the
// bits rounded away. The fingerprint names the checkpoint and is unchanged.
func (m *Model) SetDType(dt dtypes.DType) error {
	if dt != dtypes.Float32 && dt != dtypes.BFloat16 {
		return fmt.Errorf("engine: unsupported compute dtype %s (want float32 or bfloat16)", dt)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if dt == m.DType() {
		return nil
	}
	out := make([]*tensors.Tensor, len(m.weights))
	for i, w := range m.weights {
		t, err := convertTensor(m.backend, w, dt)
		if err != nil {
			for _, o := range out[:i] {
				o.FinalizeAll()
			}
			return fmt.Errorf("engine: %s: converting %s to %s: %w", m.Name, m.specs[i].Name, dt, err)
		}
		out[i] = t
	}
	m.unpinWeights()
	for _, w := range m.weights {
		w.FinalizeAll()
	}
	m.weights = out
	m.dtype = dt
	m.pinWeights()
	clear(m.execs)
	return nil
}

// convertTensor copies t into a new backend tensor of dtype dt, converting
// on the host (float32 ↔ bfloat16, round to nearest even).
func convertTensor(backend compute.Backend, t *tensors.Tensor, dt dtypes.DType) (*tensors.Tensor, error) {
	data := hostFloat32(t)
	out, err := tensors.FromShapeForBackend(backend, 0, shapes.Make(dt, t.Shape().Dimensions...))
	if err != nil {
		return nil, err
	}
	err = Catch(func() error {
		switch dt {
		case dtypes.Float32:
			tensors.MustMutableFlatData(out, func(flat []float32) { copy(flat, data) })
		case dtypes.BFloat16:
			tensors.MustMutableFlatData(out, func(flat []bfloat16.BFloat16) {
				for i, v := range data {
					flat[i] = bfloat16.FromFloat32(v)
				}
			})
		default:
			return fmt.Errorf("unsupported dtype %s", dt)
		}
		return nil
	})
	return out, err
}

// hostFloat32 copies a float32 or bfloat16 tensor to the host as float32.
func hostFloat32(t *tensors.Tensor) []float32 {
	switch t.DType() {
	case dtypes.BFloat16:
		raw := tensors.MustCopyFlatData[bfloat16.BFloat16](t)
		out := make([]float32, len(raw))
		for i, v := range raw {
			out[i] = v.Float32()
		}
		return out
	default:
		return tensors.MustCopyFlatData[float32](t)
	}
}

// asFloat32 converts a graph node to float32 when it is not already.
func asFloat32(x *Node) *Node {
	if x.DType() == dtypes.Float32 || !x.DType().IsFloat() {
		return x
	}
	return ConvertDType(x, dtypes.Float32)
}

// float32Fn makes an intervention see and return float32 whatever the
// compute dtype: the value is converted to float32 for fn and back after.
func float32Fn(fn hook.Fn) hook.Fn {
	return func(x *Node) *Node {
		dt := x.DType()
		if dt == dtypes.Float32 || !dt.IsFloat() {
			return fn(x)
		}
		return ConvertDType(fn(ConvertDType(x, dtypes.Float32)), dt)
	}
}
