package onnx_test

import (
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch"
	_ "github.com/glia-dev/glia/arch/onnx"
	fonnx "github.com/glia-dev/glia/format/onnx"
)

// TestGraphErrors: a graph the family cannot run is refused before any
// weight is read, with the node named.
func TestGraphErrors(t *testing.T) {
	in := []fonnx.ValueInfo{{Name: "x", ElemType: fonnx.Float, Dims: []int{-1, 1, 4, 4}}}
	out := []fonnx.ValueInfo{{Name: "y", ElemType: fonnx.Float, Dims: []int{-1, 2}}}
	relu := fonnx.NodeDesc{Index: 0, Name: "r", Op: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}}
	for _, c := range []struct {
		name string
		edit func(d *fonnx.Description, cfg map[string]any)
		want string
	}{
		{"unsupported op", func(d *fonnx.Description, _ map[string]any) {
			d.Nodes[0].Op = "Einsum"
		}, `node 0 "r": operator Einsum is not supported (supported: Add, AveragePool`},
		{"foreign domain", func(d *fonnx.Description, _ map[string]any) {
			d.Nodes[0].Domain = "com.microsoft"
		}, "operator com.microsoft.Relu is not supported"},
		{"undefined input", func(d *fonnx.Description, _ map[string]any) {
			d.Nodes[0].Inputs = []string{"z"}
		}, `node 0 "r" (Relu): input "z" is not defined before it`},
		{"redefined", func(d *fonnx.Description, _ map[string]any) {
			d.Nodes[0].Outputs = []string{"x"}
		}, `output "x" is defined twice`},
		{"two inputs", func(d *fonnx.Description, _ map[string]any) {
			d.Inputs = append(d.Inputs, d.Inputs[0])
		}, "the graph has 2 inputs"},
		{"classes", func(_ *fonnx.Description, cfg map[string]any) {
			cfg["num_labels"] = 3
		}, `output "y" has dims [-1 2]; want [batch, 3]`},
		{"input size", func(_ *fonnx.Description, cfg map[string]any) {
			cfg["image_height"] = 5
		}, `input "x" has dims [-1 1 4 4]; the configured input is [1 5 4]`},
		{"no nodes", func(d *fonnx.Description, _ map[string]any) {
			d.Nodes, d.Outputs = nil, []fonnx.ValueInfo{{Name: "x", Dims: []int{-1, 2}}}
		}, "the graph has no nodes"},
		{"no graph", func(_ *fonnx.Description, cfg map[string]any) {
			cfg["graph"] = 7
		}, `"graph" is not an ONNX graph description`},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &fonnx.Description{Opset: 13, Inputs: append([]fonnx.ValueInfo(nil), in...), Outputs: out,
				Nodes: []fonnx.NodeDesc{relu}, Weights: map[string][]int{"w": {2, 2}}}
			d.Nodes[0].Inputs = []string{"x"}
			cfg := map[string]any{"model_type": "onnx", "num_channels": 1, "image_height": 4, "image_width": 4, "num_labels": 2}
			c.edit(d, cfg)
			if _, ok := cfg["graph"]; !ok {
				cfg["graph"] = d
			}
			_, err := arch.New(arch.NewConfig("m.onnx", cfg))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
