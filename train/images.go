package train

import (
	"fmt"

	"github.com/glia-dev/glia/engine"
)

// Images is image classification: random training batches (each depends
// only on (seed, step)) and the whole test set as held-out batches.
// Pixels are preprocessed already, [channels, height, width] each.
type Images struct {
	Name           string
	Shape          [3]int
	TrainX, TestX  [][]float32
	TrainY, TestY  []int
	Classes, Batch int
	Seed           uint64
}

func (t *Images) check() error {
	switch {
	case len(t.TrainX) == 0 || len(t.TrainX) != len(t.TrainY) || len(t.TestX) == 0 || len(t.TestX) != len(t.TestY):
		return fmt.Errorf("train: %s: %d training images with %d labels, %d test images with %d labels", t.Name, len(t.TrainX), len(t.TrainY), len(t.TestX), len(t.TestY))
	case t.Batch < 1:
		return fmt.Errorf("train: batch must be positive, got %d", t.Batch)
	}
	for _, ys := range [][]int{t.TrainY, t.TestY} {
		for _, y := range ys {
			if y < 0 || y >= t.Classes {
				return fmt.Errorf("train: %s: label %d outside [0, %d)", t.Name, y, t.Classes)
			}
		}
	}
	return nil
}

func (t *Images) batch(xs [][]float32, ys []int, idx []int) Batch {
	n := t.Shape[0] * t.Shape[1] * t.Shape[2]
	b := Batch{B: len(idx), T: 1, Targets: make([]int32, len(idx)), Mask: make([]float32, len(idx)), Pixels: make([]float32, 0, len(idx)*n), Image: t.Shape}
	for i, j := range idx {
		b.Pixels = append(b.Pixels, xs[j]...)
		b.Targets[i], b.Mask[i] = int32(ys[j]), 1
	}
	return b
}

// Train draws Batch training images at random (with replacement).
func (t *Images) Train(step int) Batch {
	r := rng(t.Seed, streamTrain+uint64(step))
	idx := make([]int, t.Batch)
	for i := range idx {
		idx[i] = r.IntN(len(t.TrainX))
	}
	return t.batch(t.TrainX, t.TrainY, idx)
}

// Eval is the test set in batches of at most 250.
func (t *Images) Eval() []Batch {
	var out []Batch
	for i := 0; i < len(t.TestX); i += 250 {
		var idx []int
		for j := i; j < min(i+250, len(t.TestX)); j++ {
			idx = append(idx, j)
		}
		out = append(out, t.batch(t.TestX, t.TestY, idx))
	}
	return out
}

func (t *Images) Vocab() int { return t.Classes }
func (t *Images) BOS() int   { return -1 }
func (t *Images) Describe() string {
	return fmt.Sprintf("%s: %d training and %d test images of %v, %d classes, batch %d", t.Name, len(t.TrainX), len(t.TestX), t.Shape, t.Classes, t.Batch)
}

// VisionConfig is a small classifier's config.json for images of shape
// [channels, size, size]: "cnn" (3×3 convolutions of width, 2·width and
// 4·width channels with ReLUs, 2×2 max pooling after the first two, then
// global average pooling and a linear layer: the head under which Grad-CAM's
// channel weights are exact, as in CAM) or
// "vit" (layers pre-norm blocks of dModel with heads, patches of patch
// pixels).
func VisionConfig(family string, shape [3]int, classes, layers, width, heads, dMLP, patch int) (map[string]any, error) {
	c, size := shape[0], shape[1]
	labels := map[string]any{}
	for i := range classes {
		labels[fmt.Sprint(i)] = fmt.Sprint(i)
	}
	switch family {
	case "cnn":
		conv := func(out int) map[string]any {
			return map[string]any{"type": "conv2d", "out_channels": out, "kernel_size": 3, "padding": 1}
		}
		relu, pool := map[string]any{"type": "relu"}, map[string]any{"type": "maxpool2d", "kernel_size": 2}
		return map[string]any{"model_type": "cnn", "num_channels": c, "image_size": size, "id2label": labels, "layers": []any{
			conv(width), relu, pool, conv(2 * width), relu, pool, conv(4 * width), relu,
			map[string]any{"type": "adaptive_avgpool2d"}, map[string]any{"type": "flatten"},
			map[string]any{"type": "linear", "out_features": classes},
		}}, nil
	case "vit":
		if dMLP == 0 {
			dMLP = 4 * width
		}
		return map[string]any{"model_type": "vit", "architectures": []string{"ViTForImageClassification"}, "num_channels": c, "image_size": size,
			"patch_size": patch, "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": dMLP,
			"hidden_act": "gelu", "layer_norm_eps": 1e-12, "qkv_bias": true, "id2label": labels}, nil
	}
	return nil, fmt.Errorf("train: unknown image family %q (want cnn or vit)", family)
}

// Accuracy classifies images (preprocessed, [channels, height, width]
// each) and returns the predicted classes and the fraction equal to labels.
func Accuracy(m *engine.Model, xs [][]float32, labels []int) ([]int, float64, error) {
	shape, ok := m.ImageShape()
	if !ok {
		return nil, 0, fmt.Errorf("train: %s is not an image model", m.Name)
	}
	var pred []int
	hits := 0
	for i := 0; i < len(xs); i += 250 {
		j := min(i+250, len(xs))
		px := engine.Array{Shape: []int{j - i, shape[0], shape[1], shape[2]}}
		for _, x := range xs[i:j] {
			px.Data = append(px.Data, x...)
		}
		res, err := m.Run(engine.Request{Pixels: &px})
		if err != nil {
			return nil, 0, err
		}
		k := res.Logits.Shape[2]
		for b := range j - i {
			row := res.Logits.Data[b*k : (b+1)*k]
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			pred = append(pred, best)
			if best == labels[i+b] {
				hits++
			}
		}
	}
	return pred, float64(hits) / float64(max(len(xs), 1)), nil
}
