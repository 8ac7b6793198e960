//go:build nokernels

package kernels

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
)

// Built with -tags nokernels: no go:linkname, so nothing reaches into
// compute; Install reports stock kernels and installs nothing.

func init() { notLinked = "built with -tags nokernels" }

func installDot() (string, error)       { panic("unreachable: " + notLinked) }
func installOps() (string, error)       { panic("unreachable: " + notLinked) }
func installAttention() (string, error) { panic("unreachable: " + notLinked) }

// GeluTanhGrad needs glia's kernels, which this build leaves out.
func GeluTanhGrad(x, y, v *graph.Node) *graph.Node {
	panic(fmt.Errorf("glia custom ops: %s: %w", notLinked, compute.ErrNotImplemented))
}

// LayerNormGrad needs glia's kernels, which this build leaves out.
func LayerNormGrad(x, gamma, dy *graph.Node, eps float64) *graph.Node {
	panic(fmt.Errorf("glia custom ops: %s: %w", notLinked, compute.ErrNotImplemented))
}

// LayerNormParamGrad needs glia's kernels, which this build leaves out.
func LayerNormParamGrad(x, dy *graph.Node, eps float64) *graph.Node {
	panic(fmt.Errorf("glia custom ops: %s: %w", notLinked, compute.ErrNotImplemented))
}

// CrossEntropy needs glia's kernels, which this build leaves out.
func CrossEntropy(logits, targets *graph.Node) *graph.Node {
	panic(fmt.Errorf("glia custom ops: %s: %w", notLinked, compute.ErrNotImplemented))
}

// Available is false: this build has no custom ops.
func Available(g *graph.Graph) bool { return false }
