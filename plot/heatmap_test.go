package plot

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample(cols int) *HeatMap {
	h := &HeatMap{Title: "resid_pre patching", XTitle: "position", YTitle: "layer", Value: "normalised effect"}
	for r := range 3 {
		h.YLabels = append(h.YLabels, "L"+string(rune('0'+r)))
		row := make([]float64, cols)
		for c := range row {
			row[c] = math.Sin(float64(r*cols + c))
		}
		h.Values = append(h.Values, row)
	}
	h.Values[1][2] = math.NaN()
	for c := range cols {
		h.XLabels = append(h.XLabels, "tok"+string(rune('a'+c%26)))
	}
	return h
}

// TestRenderPNG: the PNG decodes, is as wide as its cells need, and shows
// both ends of the scale (the colour bar's, at least) and grey NaN cells.
func TestRenderPNG(t *testing.T) {
	for _, cols := range []int{4, 30, 200} {
		var b bytes.Buffer
		if err := sample(cols).Render(&b, "png"); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&b)
		if err != nil {
			t.Fatalf("%d columns: %v", cols, err)
		}
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		// Cells are at most 24 points (48 px at 144 dpi), and the grid at
		// most 900 points wide; labels, title and colour bar add to that.
		cell := min(48.0, 1800.0/float64(cols))
		if float64(w) < cell*float64(cols) || w > 2600 || h < 3*int(cell) || h > 1200 {
			t.Errorf("%d columns: %d×%d pixels", cols, w, h)
		}
		var red, blue, grey bool
		for y := range h {
			for x := range w {
				r, g, b, _ := img.At(x, y).RGBA()
				red = red || near(r, g, b, 178, 24, 43)
				blue = blue || near(r, g, b, 33, 102, 172)
				grey = grey || near(r, g, b, 200, 200, 200)
			}
		}
		if !red || !blue || !grey {
			t.Errorf("%d columns: full red %v, full blue %v, NaN grey %v", cols, red, blue, grey)
		}
	}
}

// near reports whether a 16-bit colour is within 3 of an 8-bit one in
// every channel (scaling the colour bar's image blends a little).
func near(r, g, b uint32, r8, g8, b8 int) bool {
	d := func(x uint32, y int) bool { return abs(int(x>>8)-y) <= 3 }
	return d(r, r8) && d(g, g8) && d(b, b8)
}

func abs(x int) int { return max(x, -x) }

// TestRenderSVG: the SVG names its axes, its scale and its labels, and
// numbers the colour bar.
func TestRenderSVG(t *testing.T) {
	h := sample(4)
	var b bytes.Buffer
	if err := h.Render(&b, "svg"); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if !strings.HasPrefix(strings.TrimSpace(svg), "<?xml") || !strings.Contains(svg, "<svg") {
		t.Fatalf("not an SVG: %.100s", svg)
	}
	lim := 0.0
	for _, r := range h.Values {
		for _, v := range r {
			if !math.IsNaN(v) {
				lim = math.Max(lim, math.Abs(v))
			}
		}
	}
	for _, s := range []string{">resid_pre patching<", ">position<", ">layer<", ">normalised effect<", ">L2<", ">toka<", ">0<",
		">" + fmt3(lim) + "<", ">" + fmt3(-lim) + "<"} {
		if !strings.Contains(svg, s) {
			t.Errorf("the SVG has no %s", s)
		}
	}
}

func fmt3(v float64) string { return fmt.Sprintf("%.3g", v) }

func TestSave(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.png", "a.svg", "A.SVG"} {
		if err := sample(5).Save(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, c := range []struct {
		h    *HeatMap
		path string
		want string
	}{
		{sample(5), filepath.Join(dir, "a.pdf"), `plot: ` + filepath.Join(dir, "a.pdf") + `: want a .png or .svg file name, not ".pdf"`},
		{&HeatMap{}, filepath.Join(dir, "b.png"), "plot: " + filepath.Join(dir, "b.png") + ": no values to draw"},
		{&HeatMap{Values: [][]float64{{1, 2}, {3}}}, filepath.Join(dir, "c.png"), "plot: " + filepath.Join(dir, "c.png") + ": row 1 has 1 values, row 0 has 2"},
		{sample(5), filepath.Join(dir, "no", "such", "d.png"), "plot: " + filepath.Join(dir, "no", "such", "d.png") + ": cannot create: open"},
	} {
		err := c.h.Save(c.path)
		var pe *Error
		if err == nil || !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.path, err, c.want)
		}
		if _, err := os.Stat(c.path); err == nil {
			t.Errorf("%s: written, though the figure failed", c.path)
		}
	}
}
