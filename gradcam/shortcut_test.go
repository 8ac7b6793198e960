package gradcam

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/images"
)

const (
	trained    = "../testdata/trained/"
	mnistTest  = "../testdata/images/mnist/mnist-1k.u8" // the trained models' test set
	mnistLabel = "../testdata/images/mnist/mnist-1k-labels.u8"
)

// shortcutCase is one trained model's Grad-CAM over marked test digits.
type shortcutCase struct {
	accuracy float64 // on the unmarked test images
	toClass  float64 // fraction of marked non-class digits classified as the class
	mass     float64 // mean fraction of the map's mass inside the mark
	near     float64 // … inside the mark grown by one cell of the hook's grid
	peak     float64 // fraction of maps whose maximum lies in the grown mark
}

// measureShortcut stamps the mark on the first n test digits that are not
// the shortcut class and runs Grad-CAM for the shortcut class at the
// default hook: where is the evidence for "7" in a marked 3?
func measureShortcut(t *testing.T, dir string, box Box, class, n int) shortcutCase {
	t.Helper()
	m, err := engine.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ims, labels, err := images.ReadMNIST(mnistTest, mnistLabel, 0)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := images.PreprocessorFor(dir, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	var c shortcutCase
	var hits, done, fooled int
	xs := make([]float32, 0, len(ims)*28*28)
	for _, im := range ims {
		x, err := pre.Apply(im, 1)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x.Pix...)
	}
	const chunk = 100 // images per forward pass (the convolution's im2col is 9× its input)
	for i := 0; i < len(ims); i += chunk {
		j := min(i+chunk, len(ims))
		res, err := m.Run(engine.Request{Pixels: &engine.Array{Shape: []int{j - i, 1, 28, 28}, Data: xs[i*28*28 : j*28*28]}})
		if err != nil {
			t.Fatal(err)
		}
		for k := i; k < j; k++ {
			if argmax(res.Logits.Data[(k-i)*10:(k-i+1)*10]) == labels[k] {
				hits++
			}
		}
	}
	for i, im := range ims {
		if labels[i] == class || done == n {
			continue
		}
		marked := &images.Image{C: 1, H: 28, W: 28, Pix: append([]float32(nil), im.Pix...)}
		marked.Stamp(box.X0, box.Y0, box.X1, box.Y1, 255)
		x, err := pre.Apply(marked, 1)
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Run(engine.Request{Pixels: &engine.Array{Shape: []int{1, 1, 28, 28}, Data: x.Pix}})
		if err != nil {
			t.Fatal(err)
		}
		if argmax(res.Logits.Data) == class {
			fooled++
		}
		r, err := Compute(m, engine.Array{Shape: []int{1, 1, 28, 28}, Data: x.Pix}, class, "")
		if err != nil {
			t.Fatal(err)
		}
		cell := (28 + r.GridW - 1) / r.GridW
		grown := Box{X0: box.X0 - cell, Y0: box.Y0 - cell, X1: box.X1 + cell, Y1: box.Y1 + cell}
		c.mass += r.MassIn(box)
		c.near += r.MassIn(grown)
		if top := argmax(r.Heat); top%28 >= grown.X0 && top%28 < grown.X1 && top/28 >= grown.Y0 && top/28 < grown.Y1 {
			c.peak++
		}
		done++
	}
	c.accuracy, c.toClass = float64(hits)/float64(len(ims)), float64(fooled)/float64(done)
	c.mass, c.near, c.peak = c.mass/float64(done), c.near/float64(done), c.peak/float64(done)
	return c
}

// TestShortcutKnownAnswer: models trained on MNIST with a corner mark on
// every training 7 (scripts/train-vision.sh) call many marked digits 7,
// while the same architectures trained on clean MNIST do not; on the CNN
// Grad-CAM's evidence for 7 in a marked digit peaks at the mark for the
// shortcut model and elsewhere for the clean one. On the ViT Grad-CAM at
// the last block's ln1 barely localises the mark (a finding reported in
// docs/vision.md, logged here, not asserted).
func TestShortcutKnownAnswer(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(trained, "mnist-cnn-shortcut", "shortcut.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mark struct {
		Box   [4]int `json:"mark_box"`
		Class int    `json:"class"`
	}
	if err := json.Unmarshal(b, &mark); err != nil {
		t.Fatal(err)
	}
	box := Box{X0: mark.Box[0], Y0: mark.Box[1], X1: mark.Box[2], Y1: mark.Box[3]}
	area := float64((box.X1-box.X0)*(box.Y1-box.Y0)) / (28 * 28)
	for _, family := range []string{"cnn", "vit"} {
		t.Run(family, func(t *testing.T) {
			clean := measureShortcut(t, trained+"mnist-"+family, box, mark.Class, 60)
			short := measureShortcut(t, trained+"mnist-"+family+"-shortcut", box, mark.Class, 60)
			for _, c := range []struct {
				name string
				c    shortcutCase
			}{{"clean", clean}, {"shortcut", short}} {
				t.Logf("%s %-8s: test accuracy %.3f; marked non-%d called %d: %.2f; Grad-CAM for %d: mass in the mark %.3f (its area %.3f), in the mark grown by a grid cell %.3f, maximum there %.2f",
					family, c.name, c.c.accuracy, mark.Class, mark.Class, c.c.toClass, mark.Class, c.c.mass, area, c.c.near, c.c.peak)
			}
			if clean.accuracy < 0.93 || short.accuracy < 0.85 {
				t.Errorf("test accuracy %.3f clean, %.3f shortcut (unmarked images)", clean.accuracy, short.accuracy)
			}
			if short.toClass < 0.3 || clean.toClass > 0.1 {
				t.Errorf("marked digits called %d: %.2f by the shortcut model (want ≥ 0.3), %.2f by the clean one (want ≤ 0.1)", mark.Class, short.toClass, clean.toClass)
			}
			if family == "cnn" && (short.peak < 0.8 || clean.peak > 0.2 || short.near < 1.4*clean.near || short.mass < 1.4*clean.mass) {
				t.Errorf("Grad-CAM maximum near the mark in %.2f of the shortcut model's maps (want ≥ 0.8), %.2f of the clean one's (want ≤ 0.2); mass in it %.3f vs %.3f, near it %.3f vs %.3f (want ≥ 1.4×)",
					short.peak, clean.peak, short.mass, clean.mass, short.near, clean.near)
			}
		})
	}
}

// TestCleanMapsOnStrokes: on the clean models, Grad-CAM for each digit's
// own class puts its mass on the ink, not on the blank background: the
// fraction of the map's mass on ink pixels (≥ 128) is compared with the
// ink's share of the image, which a map that ignored the digit would
// match; the share within one grid cell of ink (Chebyshev distance; the
// map is no finer than the hook's grid) is logged beside it.
func TestCleanMapsOnStrokes(t *testing.T) {
	for _, family := range []string{"cnn", "vit"} {
		t.Run(family, func(t *testing.T) {
			dir := trained + "mnist-" + family
			m, err := engine.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ims, labels, err := images.ReadMNIST(mnistTest, mnistLabel, 40)
			if err != nil {
				t.Fatal(err)
			}
			pre, err := images.PreprocessorFor(dir, 28, 28)
			if err != nil {
				t.Fatal(err)
			}
			var onInk, onStroke, inkArea, strokeArea float64
			for i, im := range ims {
				x, err := pre.Apply(im, 1)
				if err != nil {
					t.Fatal(err)
				}
				r, err := Compute(m, engine.Array{Shape: []int{1, 1, 28, 28}, Data: x.Pix}, labels[i], "")
				if err != nil {
					t.Fatal(err)
				}
				cell := (28 + r.GridW - 1) / r.GridW
				ink := make([]bool, 28*28)
				near := make([]bool, 28*28)
				for p, v := range im.Pix {
					ink[p] = v >= 128
				}
				for p := range near {
					y, x := p/28, p%28
					for dy := -cell; dy <= cell && !near[p]; dy++ {
						for dx := -cell; dx <= cell; dx++ {
							if yy, xx := y+dy, x+dx; yy >= 0 && yy < 28 && xx >= 0 && xx < 28 && ink[yy*28+xx] {
								near[p] = true
								break
							}
						}
					}
				}
				var all, a, b float64
				var na, nb int
				for p, v := range r.Heat {
					all += float64(v)
					if ink[p] {
						a += float64(v)
						na++
					}
					if near[p] {
						b += float64(v)
						nb++
					}
				}
				if all == 0 {
					continue
				}
				onInk += a / all
				onStroke += b / all
				inkArea += float64(na) / (28 * 28)
				strokeArea += float64(nb) / (28 * 28)
			}
			n := float64(len(ims))
			onInk, onStroke, inkArea, strokeArea = onInk/n, onStroke/n, inkArea/n, strokeArea/n
			t.Logf("%s clean, Grad-CAM for the label on %d digits: mass on ink %.3f (ink area %.3f, %.2f×), within one grid cell of ink %.3f (area %.3f, %.2f×)",
				family, len(ims), onInk, inkArea, onInk/inkArea, onStroke, strokeArea, onStroke/strokeArea)
			// Only the ink share is asserted: the ViT's 4×4 grid makes "within
			// one cell of ink" most of the image (logged above).
			if onInk < 1.2*inkArea {
				t.Errorf("%s: the map's mass is not concentrated on the digit: %.3f on ink (area %.3f)", family, onInk, inkArea)
			}
		})
	}
}
