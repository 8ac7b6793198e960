package intervene

import (
	"fmt"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
)

// Steering is a difference-of-means steering vector at one hook.
type Steering struct {
	Hook  string
	Shape []int     // one position's value (the hook's shape without batch and position)
	Data  []float32 // mean over pos rows − mean over neg rows, at every real position
	Pos   int       // rows averaged
	Neg   int
}

// BuildSteering averages the hook over every real position of the positive
// and the negative rows and subtracts.
func BuildSteering(m *engine.Model, hook string, pos, neg [][]int32, batch int) (*Steering, error) {
	lay, err := HookLayout(m, hook)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 || len(neg) == 0 {
		return nil, fmt.Errorf("steering needs positive and negative examples")
	}
	mp, err := HookMeans(m, pos, []string{hook}, batch)
	if err != nil {
		return nil, err
	}
	mn, err := HookMeans(m, neg, []string{hook}, batch)
	if err != nil {
		return nil, err
	}
	s := &Steering{Hook: hook, Shape: lay.Rest(), Data: make([]float32, len(mp[hook])), Pos: len(pos), Neg: len(neg)}
	for i := range s.Data {
		s.Data[i] = mp[hook][i] - mn[hook][i]
	}
	return s, nil
}

// Write saves the vector as tensor name in a safetensors file, with the
// hook and model in its metadata.
func (s *Steering) Write(path, name string, m *engine.Model) error {
	return safetensors.Write(path, []safetensors.Tensor{{Name: name, Shape: s.Shape, Data: s.Data}}, map[string]string{
		"producer": "glia steer build", "hook": s.Hook, "model": m.Name, "model_fingerprint": m.Fingerprint(),
		"method": "difference of means over all real positions", "pos_rows": fmt.Sprint(s.Pos), "neg_rows": fmt.Sprint(s.Neg),
	})
}
