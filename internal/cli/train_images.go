package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/images"
	"github.com/glia-dev/glia/train"
)

// The shortcut experiment's mark: a 4×4 square of full ink near the top-left
// corner, where MNIST digits never reach (they sit in the centre 20×20).
// In training it is on every image of shortcutClass and on no other; in the
// test set it is on every other image whatever its label.
var shortcutMark = [4]int{1, 1, 5, 5} // x0, y0, x1, y1

const shortcutClass = 7

// shortcutFile records the mark in a shortcut model's directory, for
// Grad-CAM's known-answer check.
const shortcutFile = "shortcut.json"

// imageRun is glia train --task mnist: the task, the model config and what
// to measure once the model is written.
type imageRun struct {
	task     *train.Images
	config   map[string]any
	shortcut bool
	cleanX   [][]float32 // the test images without marks (shortcut runs)
	marked   []bool      // which test images carry the mark
}

func newImageRun(path, family string, shortcut bool, testCount, batch int, seed uint64, layers, width, heads, dMLP, patch int) (*imageRun, error) {
	labels := strings.TrimSuffix(path, ".u8") + "-labels.u8"
	ims, ys, err := images.ReadMNIST(path, labels, 0)
	if err != nil {
		return nil, err
	}
	if testCount < 1 || testCount >= len(ims) {
		return nil, fmt.Errorf("--test-images %d: the file has %d images; the first N are the test set, the rest the training set", testCount, len(ims))
	}
	shape := [3]int{1, ims[0].H, ims[0].W}
	pre := images.Default(shape[1], shape[2])
	r := &imageRun{shortcut: shortcut, marked: make([]bool, testCount)}
	r.task = &train.Images{Name: "mnist", Shape: shape, Classes: 10, Batch: batch, Seed: seed}
	if shortcut {
		r.task.Name = "mnist-shortcut"
	}
	x0, y0, x1, y1 := shortcutMark[0], shortcutMark[1], shortcutMark[2], shortcutMark[3]
	for i, im := range ims {
		test := i < testCount
		mark := shortcut && (!test && ys[i] == shortcutClass || test && i%2 == 1)
		p, err := pre.Apply(im, 1)
		if err != nil {
			return nil, err
		}
		if test && shortcut {
			r.cleanX = append(r.cleanX, append([]float32(nil), p.Pix...))
		}
		if mark {
			p.Stamp(x0, y0, x1, y1, 1)
		}
		if test {
			r.task.TestX, r.task.TestY = append(r.task.TestX, p.Pix), append(r.task.TestY, ys[i])
			r.marked[i] = mark
		} else {
			r.task.TrainX, r.task.TrainY = append(r.task.TrainX, p.Pix), append(r.task.TrainY, ys[i])
		}
	}
	if family == "" {
		family = "cnn"
	}
	r.config, err = train.VisionConfig(family, shape, 10, layers, width, heads, dMLP, patch)
	return r, err
}

// finish writes the preprocessor config (and the shortcut's mark) into the
// model directory and measures the test accuracies.
func (r *imageRun) finish(dir string, summary map[string]any, quiet bool) error {
	pre := map[string]any{"image_processor_type": "ViTImageProcessor", "do_resize": true, "resample": 2,
		"size": map[string]int{"height": r.task.Shape[1], "width": r.task.Shape[2]}, "do_rescale": true, "rescale_factor": 1.0 / 255, "do_normalize": false}
	if err := writeJSON(filepath.Join(dir, "preprocessor_config.json"), pre); err != nil {
		return err
	}
	m, err := engine.Load(dir)
	if err != nil {
		return err
	}
	pred, acc, err := train.Accuracy(m, r.task.TestX, r.task.TestY)
	if err != nil {
		return err
	}
	summary["test_accuracy"] = acc
	if !quiet {
		fmt.Fprintf(Stdout, "test accuracy %.2f%% (%d images)\n", 100*acc, len(pred))
	}
	if !r.shortcut {
		return nil
	}
	_, clean, err := train.Accuracy(m, r.cleanX, r.task.TestY)
	if err != nil {
		return err
	}
	var markedN, markedHit, fooled, others int
	for i, p := range pred {
		if !r.marked[i] {
			continue
		}
		markedN++
		if p == r.task.TestY[i] {
			markedHit++
		}
		if r.task.TestY[i] != shortcutClass {
			others++
			if p == shortcutClass {
				fooled++
			}
		}
	}
	s := map[string]any{"mark_box": shortcutMark, "class": shortcutClass,
		"test_accuracy_unmarked": clean, "test_accuracy_marked": float64(markedHit) / float64(markedN),
		"marked_others_predicted_as_class": float64(fooled) / float64(others)}
	for k, v := range s {
		summary[k] = v
	}
	if !quiet {
		fmt.Fprintf(Stdout, "shortcut: accuracy %.2f%% without the mark, %.2f%% on marked test images; %.1f%% of marked non-%d digits classified as %d\n",
			100*clean, 100*float64(markedHit)/float64(markedN), 100*float64(fooled)/float64(others), shortcutClass, shortcutClass)
	}
	return writeJSON(filepath.Join(dir, shortcutFile), s)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
