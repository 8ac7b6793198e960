// Package plot draws glia's figures with gonum.org/v1/plot, as PNG or SVG.
//
// It knows nothing of models: a figure is labelled numbers. Heat maps use
// one diverging scale, blue (negative) – white (0) – red (positive),
// symmetric about zero, the scale of the web pages (web/static/app.js).
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"unicode/utf8"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// HeatMap is a grid of values with labelled rows and columns.
type HeatMap struct {
	Title   string
	XTitle  string      // the column axis, under the labels
	YTitle  string      // the row axis
	XLabels []string    // one per column: positions' tokens, heads, ...
	YLabels []string    // one per row, top to bottom: "L0".."L11"
	Values  [][]float64 // [row][col], row 0 at the top; NaN cells are grey
	Value   string      // what the colour bar measures ("normalised effect")
	// Limit is |value| at full colour (values beyond take the end colours);
	// 0 means the largest finite |value| (at least 1e-9).
	Limit float64
}

// Error is a figure that could not be drawn or written.
type Error struct {
	Path string // the file, or "" when writing to a stream
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	s := "plot: "
	if e.Path != "" {
		s += e.Path + ": "
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Formats are the formats Render writes: a file's extension without the dot.
var Formats = []string{"png", "svg"}

// Save writes the heat map to path, in the format its extension names
// (.png or .svg). A figure that cannot be drawn leaves no file.
func (h *HeatMap) Save(path string) error {
	return save(path, h.Render)
}

func knownFormat(f string) bool {
	for _, k := range Formats {
		if f == k {
			return true
		}
	}
	return false
}

// Sizes of a figure. gonum measures in points (1/72 inch); PNGs are drawn
// at pngDPI.
const (
	maxCell   vg.Length = 24  // a cell's side, when the grid is small
	minHeight vg.Length = 120 // the grid's height at least
	maxData   vg.Length = 900 // the grid's width and height at most
	strip     vg.Length = 14  // the colour bar's width
	gap       vg.Length = 12  // between the cells and the colour bar's numbers
	pngDPI              = 144
	maxTicks            = 40 // labelled rows or columns at most; more are thinned
)

// Render writes the heat map as format ("png" or "svg") to w.
func (h *HeatMap) Render(w io.Writer, format string) error {
	if !knownFormat(format) {
		return &Error{Msg: fmt.Sprintf("unknown format %q: want png or svg", format)}
	}
	nr, nc := len(h.Values), 0
	if nr > 0 {
		nc = len(h.Values[0])
	}
	for r, row := range h.Values {
		if len(row) != nc {
			return &Error{Msg: fmt.Sprintf("row %d has %d values, row 0 has %d", r, len(row), nc)}
		}
	}
	if nr == 0 || nc == 0 {
		return &Error{Msg: "no values to draw"}
	}
	cm := &diverging{lim: h.limit()}
	// Cells are square up to maxCell, narrower when there are many
	// columns, and the grid at least minHeight tall, for the colour bar.
	cellW := min(maxCell, maxData/vg.Length(nc))
	gridH := max(minHeight, vg.Length(nr)*min(maxCell, maxData/vg.Length(nr)))
	hp, bp := h.grid(cm), h.bar(cm)

	// The figure is the title over the cells, with the room the grid's
	// axes take, then the colour bar: a strip as tall as the cells, its
	// numbers and title to its left. A title wider than that widens the
	// figure; the rest is centred under it.
	left, bottom, top := margins(hp)
	barLeft, barBottom, barTop := margins(bp)
	gridW := left + vg.Length(nc)*cellW
	contentW := gridW + gap + barLeft + strip + gap
	title := hp.Title.TextStyle
	title.Font.Size *= 1.15
	titleSize := title.Rectangle(h.Title).Size()
	width := max(contentW, titleSize.X+2*gap)
	height := gap + titleSize.Y + gap + top + gridH + bottom
	var c vg.CanvasWriterTo
	if format == "svg" {
		c = vgsvg.New(width, height)
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(pngDPI))}
	}
	dc := draw.New(c)
	dc.SetColor(color.White) // SVGs too: transparent ones vanish on dark pages
	dc.Fill(dc.Rectangle.Path())
	dc.FillText(title, vg.Point{X: width / 2, Y: height - gap}, h.Title)
	x0 := (width - contentW) / 2
	gc := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: x0},
		Max: vg.Point{X: x0 + gridW, Y: height - gap - titleSize.Y - gap},
	}}
	hp.Draw(gc)
	data := hp.DataCanvas(gc)
	bp.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: data.Max.X + gap, Y: data.Min.Y - barBottom},
		Max: vg.Point{X: data.Max.X + gap + barLeft + strip, Y: data.Max.Y + barTop},
	}})
	if _, err := c.WriteTo(w); err != nil {
		return &Error{Msg: "cannot write " + format, Err: err}
	}
	return nil
}

// margins measures the room around a plot's data: the y labels and title at
// the left, the x labels and title below, and above.
func margins(p *gplot.Plot) (left, bottom, top vg.Length) {
	// A probe of a known size gives the axes' sizes; measuring text needs
	// no canvas to draw on.
	c := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: 1000, Y: 1000}}}
	d := p.DataCanvas(c)
	return d.Min.X - c.Min.X, d.Min.Y - c.Min.Y, c.Max.Y - d.Max.Y
}

func (h *HeatMap) limit() float64 {
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

// grid is the plot of the cells, with its labels and titles.
func (h *HeatMap) grid(cm *diverging) *gplot.Plot {
	nr, nc := len(h.Values), len(h.Values[0])
	p := gplot.New()
	p.X.Label.Text = h.XTitle
	p.Y.Label.Text = h.YTitle
	p.X.Tick.Marker = labels(h.XLabels, nc, func(i int) float64 { return float64(i) })
	p.Y.Tick.Marker = labels(h.YLabels, nr, func(i int) float64 { return float64(nr - 1 - i) })
	if longest(h.XLabels) > 3 { // tokens: slanted, to fit under narrow cells
		p.X.Tick.Label.Rotation = math.Pi / 3
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	p.X.Padding, p.Y.Padding = 0, 0
	hm := plotter.NewHeatMap(cells(h.Values), cm.Palette(255))
	hm.Min, hm.Max = cm.Min(), cm.Max()
	hm.NaN = nanGrey
	hm.Underflow, hm.Overflow = Colour(-cm.lim, cm.lim), Colour(cm.lim, cm.lim)
	hm.Rasterized = nr*nc > 20000 // an SVG of one rectangle per cell gets heavy
	p.Add(hm)
	return p
}

// bar is the colour bar: the scale from −limit to limit, with numbers.
func (h *HeatMap) bar(cm *diverging) *gplot.Plot {
	p := gplot.New()
	p.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})
	p.HideX()
	p.X.Padding = 0
	p.Y.Label.Text = h.Value
	p.Y.Padding = 0
	// Numbers at both ends and between, so the scale reads without
	// guessing where it stops.
	var ticks gplot.ConstantTicks
	for i := -2; i <= 2; i++ {
		v := cm.lim * float64(i) / 2
		ticks = append(ticks, gplot.Tick{Value: v, Label: fmt.Sprintf("%.3g", v)})
	}
	p.Y.Tick.Marker = ticks
	return p
}

// labels ticks every cell with its label, or every k-th when there are
// more than maxTicks (a number, when names run out).
func labels(names []string, n int, at func(int) float64) gplot.Ticker {
	step := (n + maxTicks - 1) / maxTicks
	var ts gplot.ConstantTicks
	for i := 0; i < n; i += step {
		s := fmt.Sprint(i)
		if i < len(names) {
			s = names[i]
		}
		ts = append(ts, gplot.Tick{Value: at(i), Label: s})
	}
	return ts
}

func longest(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, utf8.RuneCountInString(s))
	}
	return n
}

// cells is Values as gonum's GridXYZ: column c, row r counted from the
// bottom.
type cells [][]float64

func (g cells) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g cells) Z(c, r int) float64 { return g[len(g)-1-r][c] }
func (g cells) X(c int) float64    { return float64(c) }
func (g cells) Y(r int) float64    { return float64(r) }

var nanGrey = color.RGBA{200, 200, 200, 255}

// Colour maps v in [−lim, lim] to blue (negative) – white – red (positive);
// NaN is grey.
func Colour(v, lim float64) color.RGBA {
	if math.IsNaN(v) {
		return nanGrey
	}
	x := math.Max(-1, math.Min(1, v/lim))
	lerp := func(a, b uint8, t float64) uint8 { return uint8(math.Round(float64(a) + (float64(b)-float64(a))*t)) }
	if x >= 0 { // white → red (178, 24, 43)
		return color.RGBA{lerp(255, 178, x), lerp(255, 24, x), lerp(255, 43, x), 255}
	}
	return color.RGBA{lerp(255, 33, -x), lerp(255, 102, -x), lerp(255, 172, -x), 255} // → blue (33, 102, 172)
}

// diverging is Colour as gonum's palette.ColorMap over [−lim, lim], shared
// by the cells and the colour bar.
type diverging struct{ lim float64 }

func (d *diverging) At(v float64) (color.Color, error) {
	switch {
	case v < -d.lim:
		return nil, palette.ErrUnderflow
	case v > d.lim || math.IsNaN(v):
		return nil, palette.ErrOverflow
	}
	return Colour(v, d.lim), nil
}

func (d *diverging) Max() float64       { return d.lim }
func (d *diverging) Min() float64       { return -d.lim }
func (d *diverging) SetMax(v float64)   { d.lim = math.Abs(v) }
func (d *diverging) SetMin(v float64)   { d.lim = math.Abs(v) }
func (d *diverging) Alpha() float64     { return 1 }
func (d *diverging) SetAlpha(a float64) {}
func (d *diverging) Palette(n int) palette.Palette {
	cs := make([]color.Color, n)
	for i := range cs {
		cs[i] = Colour(-d.lim+2*d.lim*float64(i)/float64(max(n-1, 1)), d.lim)
	}
	return colours(cs)
}

type colours []color.Color

func (c colours) Colors() []color.Color { return c }
