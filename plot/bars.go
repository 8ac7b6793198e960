package plot

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Bars is a horizontal bar chart of labelled values, the first at the top:
// the top components of an attribution. Positive bars are red and negative
// ones blue, the ends of the heat maps' scale, and each bar carries its
// value.
type Bars struct {
	Title  string
	XTitle string // the value axis ("DLA score")
	YTitle string // the label axis ("component")
	Labels []string
	Values []float64
}

// Sizes of a bar chart, in points.
const (
	barRow    vg.Length = 18  // one bar and its gap
	barsWidth vg.Length = 520 // the whole figure
	barsExtra vg.Length = 90  // title, the value axis and its title
)

// Save writes the chart to path, in the format its extension names (.png or
// .svg). A chart that cannot be drawn leaves no file.
func (b *Bars) Save(path string) error {
	return save(path, b.Render)
}

// save renders with render in the format path's extension names, then
// writes the file, so that a failed figure leaves nothing behind.
func save(path string, render func(io.Writer, string) error) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if !knownFormat(format) {
		return &Error{Path: path, Msg: fmt.Sprintf("want a .png or .svg file name, not %q", filepath.Ext(path))}
	}
	var buf bytes.Buffer
	if err := render(&buf, format); err != nil {
		if e, ok := err.(*Error); ok {
			e.Path = path
		}
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return &Error{Path: path, Msg: "cannot create", Err: err}
	}
	return nil
}

// Render writes the chart as format ("png" or "svg") to w.
func (b *Bars) Render(w io.Writer, format string) error {
	if !knownFormat(format) {
		return &Error{Msg: fmt.Sprintf("unknown format %q: want png or svg", format)}
	}
	n := len(b.Values)
	switch {
	case n == 0:
		return &Error{Msg: "no values to draw"}
	case len(b.Labels) != n:
		return &Error{Msg: fmt.Sprintf("%d labels for %d values", len(b.Labels), n)}
	}
	p := gplot.New()
	p.Title.Text = b.Title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = b.XTitle
	p.Y.Label.Text = b.YTitle
	// Row i is drawn at y = n−1−i, so the first value is at the top. Two
	// series, one per sign, give each sign its colour; a zero bar draws
	// nothing.
	pos, neg := make(plotter.Values, n), make(plotter.Values, n)
	labels := make([]string, n)
	var xys plotter.XYs
	var texts []string
	mx := 1e-9
	for i, v := range b.Values {
		r := n - 1 - i
		labels[r] = b.Labels[i]
		if v >= 0 {
			pos[r] = v
		} else {
			neg[r] = v
		}
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			mx = math.Max(mx, math.Abs(v))
			xys = append(xys, plotter.XY{X: v, Y: float64(r)})
			t := fmt.Sprintf(" %+.3g", v) // a space from the bar's end
			if v < 0 {
				t = fmt.Sprintf("%+.3g ", v)
			}
			texts = append(texts, t)
		}
	}
	for _, s := range []struct {
		v   plotter.Values
		lim float64
	}{{pos, 1}, {neg, -1}} {
		bc, err := plotter.NewBarChart(s.v, barRow*0.7)
		if err != nil {
			return &Error{Msg: "cannot draw the bars", Err: err}
		}
		bc.Horizontal = true
		bc.Color = Colour(0.8*s.lim, 1)
		bc.LineStyle.Width = 0
		p.Add(bc)
	}
	vl, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return &Error{Msg: "cannot label the bars", Err: err}
	}
	// A value sits just past its bar's end: right of a positive bar, left
	// of a negative one.
	for i := range vl.TextStyle {
		vl.TextStyle[i].YAlign = draw.YCenter
		if xys[i].X < 0 {
			vl.TextStyle[i].XAlign = draw.XRight
		}
	}
	p.Add(vl, plotter.NewGrid())
	// Room on both sides for the value labels.
	p.X.Min, p.X.Max = math.Min(0, minOf(b.Values))-0.25*mx, math.Max(0, maxOf(b.Values))+0.25*mx
	p.NominalY(labels...)

	width, height := barsWidth, barsExtra+vg.Length(n)*barRow
	var c vg.CanvasWriterTo
	if format == "svg" {
		c = vgsvg.New(width, height)
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(pngDPI))}
	}
	p.Draw(draw.New(c))
	if _, err := c.WriteTo(w); err != nil {
		return &Error{Msg: "cannot write " + format, Err: err}
	}
	return nil
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		if !math.IsNaN(x) {
			m = math.Min(m, x)
		}
	}
	return m
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		if !math.IsNaN(x) {
			m = math.Max(m, x)
		}
	}
	return m
}
