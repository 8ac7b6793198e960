// Package gradcam computes Grad-CAM (Selvaraju et al. 2017) heat maps with
// the engine's gradients, as jacobgil/pytorch-grad-cam's GradCAM does:
//
//	w_k = mean over positions of ∂logit_class/∂A_k   (A: the hook's activations)
//	cam = ReLU(Σ_k w_k A_k)
//	heat = (cam − min) / (max − min + 1e-7), resized to the input (bilinear),
//	       and normalised so again
//
// A convolutional hook [batch, channel, h, w] is used as it is. A hook of a
// patch-sequence model (ViT, engine.Model.PatchGrid) [batch, 1+rows·cols,
// …] drops position 0 (CLS) and reshapes the patches to their grid, with
// every trailing axis as a channel: pytorch-grad-cam's reshape_transform,
// found from the model rather than written by the user.
//
// HiResCAM (Draelos & Carin 2020, pytorch-grad-cam's HiResCAM) keeps the
// gradient per position instead of averaging it: cam = ReLU(Σ_k ∂logit/∂A_k
// ⊙ A_k). On the ViT shortcut model it finds the mark where Grad-CAM's
// averaged weights do not (docs/vision.md).
package gradcam

import (
	"fmt"
	"math"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/images"
)

// Method is how channels are weighted.
type Method int

const (
	GradCAM  Method = iota // w_k = the gradient averaged over positions
	HiResCAM               // the gradient at each position
)

// ParseMethod reads "gradcam" or "hirescam".
func ParseMethod(s string) (Method, error) {
	switch s {
	case "", "gradcam":
		return GradCAM, nil
	case "hirescam":
		return HiResCAM, nil
	}
	return 0, fmt.Errorf("gradcam: unknown method %q (want gradcam or hirescam)", s)
}

func (m Method) String() string { return [...]string{"gradcam", "hirescam"}[m] }

// eps is pytorch-grad-cam's scale_cam_image guard against a zero range.
const eps = 1e-7

// Result is one image's Grad-CAM for one class at one hook.
type Result struct {
	Method  Method
	Hook    string
	Class   int
	Logit   float32
	Patches bool      // the hook was a patch sequence (CLS dropped, reshaped to the grid)
	Weights []float32 // w_k, one per channel (Grad-CAM's; HiResCAM's are per position)
	// Cam is ReLU(Σ w_k A_k) on the hook's grid [GridH, GridW], before
	// normalisation.
	Cam          []float32
	GridH, GridW int
	// Heat is Cam min–max normalised and resized to the input [H, W],
	// values in [0, 1].
	Heat []float32
	H, W int
}

// DefaultHook is where Grad-CAM looks when no hook is named: for a ViT the
// last block's first layer norm (pytorch-grad-cam's advice: blocks[-1].norm1;
// the final norm feeds only CLS, so its patch gradients are zero); else the
// last hook with a spatial grid larger than 1×1 (the last convolutional
// stage).
func DefaultHook(m *engine.Model) (string, error) {
	if _, _, ok := m.PatchGrid(); ok {
		return fmt.Sprintf("blocks.%d.ln1.hook_normalized", m.Dims().Layers-1), nil
	}
	infos, err := m.HookPoints()
	if err != nil {
		return "", err
	}
	name := ""
	for _, h := range infos {
		if len(h.Shape) == 4 && h.Shape[2]*h.Shape[3] > 1 && h.Name != "hook_pixels" {
			name = h.Name
		}
	}
	if name == "" {
		return "", fmt.Errorf("gradcam: %s has no hook with a spatial grid [batch, channel, h, w]; name one", m.Name)
	}
	return name, nil
}

// Compute runs Grad-CAM on one preprocessed image [1, channels, height,
// width] for class (negative: the model's top class) at hook ("" for
// DefaultHook).
func Compute(m *engine.Model, pixels engine.Array, class int, hook string) (*Result, error) {
	return ComputeWith(m, pixels, class, hook, GradCAM)
}

// ComputeWith is Compute with a choice of method.
func ComputeWith(m *engine.Model, pixels engine.Array, class int, hook string, method Method) (*Result, error) {
	shape, ok := m.ImageShape()
	if !ok {
		return nil, fmt.Errorf("gradcam: %s is not an image model", m.Name)
	}
	if len(pixels.Shape) != 4 || pixels.Shape[0] != 1 {
		return nil, fmt.Errorf("gradcam: one image at a time: pixels are %v", pixels.Shape)
	}
	if hook == "" {
		h, err := DefaultHook(m)
		if err != nil {
			return nil, err
		}
		hook = h
	}
	if class < 0 {
		res, err := m.Run(engine.Request{Pixels: &pixels})
		if err != nil {
			return nil, err
		}
		class = argmax(res.Logits.Data)
	}
	if n := m.Dims().Vocab; class >= n {
		return nil, fmt.Errorf("gradcam: class %d is out of range [0, %d)", class, n)
	}
	res, err := m.Run(engine.Request{Pixels: &pixels, Hooks: []string{hook}, Grad: &engine.GradTarget{Token: class}})
	if err != nil {
		return nil, err
	}
	r := &Result{Method: method, Hook: hook, Class: class, Logit: res.Logits.Data[class], H: shape[1], W: shape[2]}
	act, grad, err := r.channelsFirst(m, res.Acts[hook], res.Grads[hook])
	if err != nil {
		return nil, err
	}
	r.combine(act, grad)
	cam := &images.Image{C: 1, H: r.GridH, W: r.GridW, Pix: normalise(r.Cam)}
	if r.GridH != r.H || r.GridW != r.W {
		cam = images.Resize(cam, r.H, r.W, 2)
	}
	// pytorch-grad-cam scales once per layer and again after averaging
	// its layers (one here): the resize can move the minimum off zero.
	r.Heat = normalise(cam.Pix)
	return r, nil
}

// channelsFirst returns activations and gradients as [channel][h·w] planes,
// setting the grid.
func (r *Result) channelsFirst(m *engine.Model, act, grad engine.Array) (a, g [][]float32, err error) {
	s := act.Shape
	rows, cols, patches := m.PatchGrid()
	if patches && len(s) == 4 && s[2] == 1+rows*cols && s[3] == 1+rows*cols {
		return nil, nil, fmt.Errorf("gradcam: hook %s is %v, query × key positions: Grad-CAM needs a spatial grid of channels ([batch, 1+patches, …])", r.Hook, s)
	}
	if patches && len(s) >= 3 && s[1] == 1+rows*cols {
		// [1, 1+rows·cols, …]: drop CLS, channels are the trailing axes.
		r.Patches, r.GridH, r.GridW = true, rows, cols
		c := 1
		for _, d := range s[2:] {
			c *= d
		}
		return transpose(act.Data[c:], rows*cols, c), transpose(grad.Data[c:], rows*cols, c), nil
	}
	if len(s) != 4 || (s[2] == 1 && s[3] == 1) {
		return nil, nil, fmt.Errorf("gradcam: hook %s is %v; Grad-CAM needs a spatial grid: [batch, channel, h, w] or a ViT's [batch, 1+patches, …]", r.Hook, s)
	}
	r.GridH, r.GridW = s[2], s[3]
	n := s[2] * s[3]
	for k := range s[1] {
		a = append(a, act.Data[k*n:(k+1)*n])
		g = append(g, grad.Data[k*n:(k+1)*n])
	}
	return a, g, nil
}

// transpose turns [positions, channels] into channel planes.
func transpose(x []float32, n, c int) [][]float32 {
	out := make([][]float32, c)
	for k := range c {
		out[k] = make([]float32, n)
		for p := range n {
			out[k][p] = x[p*c+k]
		}
	}
	return out
}

// combine sets Weights and Cam from channel planes.
func (r *Result) combine(act, grad [][]float32) {
	n := r.GridH * r.GridW
	cam := make([]float64, n)
	r.Weights = make([]float32, len(act))
	for k := range act {
		var w float64
		for _, v := range grad[k] {
			w += float64(v)
		}
		w /= float64(n)
		r.Weights[k] = float32(w)
		for p, v := range act[k] {
			if r.Method == HiResCAM {
				w = float64(grad[k][p])
			}
			cam[p] += w * float64(v)
		}
	}
	r.Cam = make([]float32, n)
	for p, v := range cam {
		r.Cam[p] = float32(max(v, 0))
	}
}

// normalise is scale_cam_image's (x − min) / (max + 1e-7) after the shift.
func normalise(x []float32) []float32 {
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = (v - lo) / (hi - lo + eps)
	}
	return out
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// Box is a rectangle of input pixels, [X0, X1) × [Y0, Y1).
type Box struct{ X0, Y0, X1, Y1 int }

// MassIn is the fraction of the heat map's total inside box (0 for an
// all-zero map).
func (r *Result) MassIn(b Box) float64 {
	var in, all float64
	for y := range r.H {
		for x := range r.W {
			v := float64(r.Heat[y*r.W+x])
			all += v
			if x >= b.X0 && x < b.X1 && y >= b.Y0 && y < b.Y1 {
				in += v
			}
		}
	}
	if all == 0 {
		return 0
	}
	return in / all
}
