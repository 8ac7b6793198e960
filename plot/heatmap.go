package plot

import (
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

// Heatmap is a grid of values with labelled rows and columns, drawn with a
// diverging blue–white–red scale symmetric about zero.
type Heatmap struct {
	Title    string
	Rows     []string // e.g. "L0".."L11"
	Cols     []string // positions' tokens, heads, ...
	RowTitle string
	ColTitle string
	Values   [][]float64 // [row][col]; NaN cells are drawn grey
	Limit    float64     // |value| at full colour; 0 = max |value| (at least 1e-9)
}

func (h *Heatmap) limit() float64 {
	if h.Limit > 0 {
		return h.Limit
	}
	mx := 1e-9
	for _, r := range h.Values {
		for _, v := range r {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				mx = math.Max(mx, math.Abs(v))
			}
		}
	}
	return mx
}

// Colour maps v in [−lim, lim] to blue (negative) – white – red (positive).
func Colour(v, lim float64) color.RGBA {
	if math.IsNaN(v) {
		return color.RGBA{200, 200, 200, 255}
	}
	x := math.Max(-1, math.Min(1, v/lim))
	lerp := func(a, b uint8, t float64) uint8 { return uint8(math.Round(float64(a) + (float64(b)-float64(a))*t)) }
	if x >= 0 { // white → red (178, 24, 43)
		return color.RGBA{lerp(255, 178, x), lerp(255, 24, x), lerp(255, 43, x), 255}
	}
	return color.RGBA{lerp(255, 33, -x), lerp(255, 102, -x), lerp(255, 172, -x), 255} // → blue (33, 102, 172)
}

const (
	cellPx   = 28
	leftPx   = 60
	topPx    = 40
	bottomPx = 90
	barPx    = 60
)

// SVG writes the heat map with labels and a colour bar.
func (h *Heatmap) SVG(w io.Writer) error {
	nr, nc := len(h.Values), 0
	if nr > 0 {
		nc = len(h.Values[0])
	}
	lim := h.limit()
	width := leftPx + nc*cellPx + barPx + 20
	height := topPx + nr*cellPx + bottomPx
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", leftPx, html.EscapeString(h.Title))
	for r, row := range h.Values {
		y := topPx + r*cellPx
		if r < len(h.Rows) {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", leftPx-6, y+cellPx/2+4, html.EscapeString(h.Rows[r]))
		}
		for c, v := range row {
			col := Colour(v, lim)
			label := "n/a"
			if !math.IsNaN(v) {
				label = fmt.Sprintf("%.3f", v)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="rgb(%d,%d,%d)"><title>%s, %s: %s</title></rect>`+"\n",
				leftPx+c*cellPx, y, cellPx, cellPx, col.R, col.G, col.B, html.EscapeString(get(h.Rows, r)), html.EscapeString(get(h.Cols, c)), label)
		}
	}
	for c := range nc {
		x := leftPx + c*cellPx + cellPx/2
		y := topPx + nr*cellPx + 8
		fmt.Fprintf(&b, `<text transform="translate(%d,%d) rotate(60)">%s</text>`+"\n", x-3, y, html.EscapeString(get(h.Cols, c)))
	}
	if h.RowTitle != "" {
		fmt.Fprintf(&b, `<text transform="translate(14,%d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", topPx+nr*cellPx/2, html.EscapeString(h.RowTitle))
	}
	if h.ColTitle != "" {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", leftPx+nc*cellPx/2, height-8, html.EscapeString(h.ColTitle))
	}
	// Colour bar.
	bx := leftPx + nc*cellPx + 20
	bh := max(nr*cellPx, 100)
	for i := range 50 {
		v := lim * (1 - 2*float64(i)/49)
		col := Colour(v, lim)
		fmt.Fprintf(&b, `<rect x="%d" y="%.2f" width="14" height="%.2f" fill="rgb(%d,%d,%d)"/>`+"\n", bx, float64(topPx)+float64(i)*float64(bh)/50, float64(bh)/50+0.5, col.R, col.G, col.B)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">%.3g</text>`+"\n", bx+18, topPx+8, lim)
	fmt.Fprintf(&b, `<text x="%d" y="%d">0</text>`+"\n", bx+18, topPx+bh/2+4)
	fmt.Fprintf(&b, `<text x="%d" y="%d">%.3g</text>`+"\n", bx+18, topPx+bh, -lim)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func get(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// PNG draws the same cells (and the colour bar, and row and column numbers
// in a small built-in digit font; token labels are in the SVG only).
func (h *Heatmap) PNG(w io.Writer) error {
	nr, nc := len(h.Values), 0
	if nr > 0 {
		nc = len(h.Values[0])
	}
	lim := h.limit()
	const cell, left, top = 24, 36, 12
	bottom := 30
	width := left + nc*cell + 50
	height := top + max(nr*cell, 100) + bottom
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill := func(x0, y0, x1, y1 int, c color.RGBA) {
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	white := color.RGBA{255, 255, 255, 255}
	black := color.RGBA{0, 0, 0, 255}
	fill(0, 0, width, height, white)
	for r, row := range h.Values {
		for c, v := range row {
			fill(left+c*cell, top+r*cell, left+(c+1)*cell, top+(r+1)*cell, Colour(v, lim))
		}
		drawNumber(img, 4, top+r*cell+cell/2-5, r, black)
	}
	for c := range nc {
		drawNumber(img, left+c*cell+4, top+nr*cell+6, c, black)
	}
	bx, bh := left+nc*cell+16, max(nr*cell, 100)
	for y := range bh {
		fill(bx, top+y, bx+14, top+y+1, Colour(lim*(1-2*float64(y)/float64(bh-1)), lim))
	}
	return png.Encode(w, img)
}

// digits is a 3×5 pixel font for 0-9.
var digits = [10][5]string{
	{"###", "#.#", "#.#", "#.#", "###"}, {".#.", "##.", ".#.", ".#.", "###"},
	{"###", "..#", "###", "#..", "###"}, {"###", "..#", "###", "..#", "###"},
	{"#.#", "#.#", "###", "..#", "..#"}, {"###", "#..", "###", "..#", "###"},
	{"###", "#..", "###", "#.#", "###"}, {"###", "..#", ".#.", ".#.", ".#."},
	{"###", "#.#", "###", "#.#", "###"}, {"###", "#.#", "###", "..#", "###"},
}

// drawNumber draws n at (x, y) at 2× scale.
func drawNumber(img *image.RGBA, x, y, n int, c color.RGBA) {
	s := fmt.Sprint(n)
	for i, ch := range s {
		g := digits[ch-'0']
		for gy, line := range g {
			for gx, p := range line {
				if p == '#' {
					for dy := range 2 {
						for dx := range 2 {
							img.SetRGBA(x+i*8+gx*2+dx, y+gy*2+dy, c)
						}
					}
				}
			}
		}
	}
}
