package atlastest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/glia-dev/glia/format/safetensors"
)

// A Plant is a 3×3 checkerboard (ink at the corners and the centre, none
// at the edge midpoints) stamped into an image at [X, X+3) × [Y, Y+3).
type Plant struct{ Image, X, Y int }

// Checker is the pattern: 1 where ink goes, row-major.
var Checker = [9]float32{1, 0, 1, 0, 1, 0, 1, 0, 1}

// PlantedCNN writes a hand-set CNN and an image set for the image atlas'
// known answer into dir, and returns the model directory, the IDX file and
// the plants.
//
// The CNN is conv2d(2 channels, 3×3, padding 1) → relu → maxpool 2 →
// flatten → linear. Channel 0's kernel is +1 on the checker's ink and −1
// elsewhere with bias −4.5, on pixels scaled to [0, 1]: it is 0.5 on a
// whole checker and positive only where the five ink pixels sum to more
// than 4.5 plus the ink on the other four, which digits' strokes (two or
// three pixels wide) never give (the test checks that no other cell
// fires). Channel 1 (the mean ink, bias 0) fires on every stroke. After
// the pooling a checker centred at (x, y) fires in cell ((y+1)/2, (x+1)/2).
//
// The images are the first n of mnist (an IDX file); plants go into
// fifteen of them, in the empty four-pixel border that MNIST leaves
// around every digit.
func PlantedCNN(dir, mnist string, n int) (model, idx string, plants []Plant, err error) {
	model = filepath.Join(dir, "planted-cnn")
	if err := os.MkdirAll(model, 0o755); err != nil {
		return "", "", nil, err
	}
	cfg := `{"model_type": "cnn", "num_channels": 1, "image_size": 28, "num_labels": 2, "layers": [
  {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1}, {"type": "relu"},
  {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 2}]}`
	if err := os.WriteFile(filepath.Join(model, "config.json"), []byte(cfg), 0o644); err != nil {
		return "", "", nil, err
	}
	kernel := make([]float32, 18)
	for i, c := range Checker {
		kernel[i] = 2*c - 1
		kernel[9+i] = 1.0 / 9
	}
	err = safetensors.Write(filepath.Join(model, "model.safetensors"), []safetensors.Tensor{
		{Name: "layers.0.weight", Shape: []int{2, 1, 3, 3}, Data: kernel},
		{Name: "layers.0.bias", Shape: []int{2}, Data: []float32{-4.5, 0}},
		{Name: "layers.4.weight", Shape: []int{2, 2 * 14 * 14}, Data: make([]float32, 2*2*14*14)},
		{Name: "layers.4.bias", Shape: []int{2}, Data: []float32{0, 0}},
	}, nil)
	if err != nil {
		return "", "", nil, err
	}
	raw, err := os.ReadFile(mnist)
	if err != nil {
		return "", "", nil, err
	}
	const side = 28
	if len(raw) < 16+n*side*side || binary.BigEndian.Uint32(raw) != 0x803 {
		return "", "", nil, fmt.Errorf("atlastest: %s does not hold %d MNIST images", mnist, n)
	}
	// Corners and edge midpoints of the border, in turn.
	spots := [][2]int{{1, 1}, {24, 1}, {1, 24}, {24, 24}, {12, 0}, {0, 12}, {25, 12}, {12, 25}}
	out := binary.BigEndian.AppendUint32(nil, 0x803)
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	out = binary.BigEndian.AppendUint32(out, side)
	out = binary.BigEndian.AppendUint32(out, side)
	out = append(out, raw[16:16+n*side*side]...)
	for k := range 15 {
		p := Plant{Image: 3 + k*(n-4)/15, X: spots[k%len(spots)][0], Y: spots[k%len(spots)][1]}
		img := out[16+p.Image*side*side:]
		for i, c := range Checker {
			img[(p.Y+i/3)*side+p.X+i%3] = byte(255 * c)
		}
		plants = append(plants, p)
	}
	idx = filepath.Join(dir, "planted.u8")
	return model, idx, plants, os.WriteFile(idx, out, 0o644)
}
