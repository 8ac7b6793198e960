package plot

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleBars() *Bars {
	return &Bars{
		Title: "DLA of \" Lily\"", XTitle: "DLA score", YTitle: "component",
		Labels: []string{"L5H3", "L4N17", "embed", "L0.mlp_bias"},
		Values: []float64{2.5, -1.25, 0.5, -0.125},
	}
}

// TestBarsPNG: the PNG decodes, grows with the bars, and has red
// (positive) and blue (negative) bars.
func TestBarsPNG(t *testing.T) {
	var heights []int
	for _, n := range []int{1, 4} {
		b := sampleBars()
		b.Labels, b.Values = b.Labels[:n], b.Values[:n]
		var buf bytes.Buffer
		if err := b.Render(&buf, "png"); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%d bars: %v", n, err)
		}
		heights = append(heights, img.Bounds().Dy())
		var red, blue bool
		for y := range img.Bounds().Dy() {
			for x := range img.Bounds().Dx() {
				r, g, bl, _ := img.At(x, y).RGBA()
				c := Colour(0.8, 1)
				red = red || near(r, g, bl, int(c.R), int(c.G), int(c.B))
				c = Colour(-0.8, 1)
				blue = blue || near(r, g, bl, int(c.R), int(c.G), int(c.B))
			}
		}
		if !red || blue != (n > 1) {
			t.Errorf("%d bars: red %v, blue %v", n, red, blue)
		}
	}
	if heights[1] <= heights[0] {
		t.Errorf("heights %v: 4 bars should be taller than 1", heights)
	}
}

// TestBarsSVG: the SVG holds the titles, every label and every value.
func TestBarsSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bars.svg")
	b := sampleBars()
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(data)
	want := append([]string{"DLA score", "component", "Lily", "+2.5", "-1.25", "+0.5", "-0.125"}, b.Labels...)
	for _, w := range want {
		if !strings.Contains(svg, w) {
			t.Errorf("the SVG lacks %q", w)
		}
	}
}

func TestBarsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Bars
		path string
		want string
	}{
		{"empty", Bars{}, "x.png", "no values"},
		{"labels", Bars{Labels: []string{"a"}, Values: []float64{1, 2}}, "x.svg", "1 labels for 2 values"},
		{"format", *sampleBars(), "x.pdf", "want a .png or .svg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.path)
			err := tc.b.Save(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("%s was written", path)
			}
		})
	}
}
