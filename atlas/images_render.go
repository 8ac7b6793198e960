package atlas

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"strings"
)

// ExemplarPNG draws a stored image (planar bytes [c, h, w]) scale× with
// its mask: masked pixels tinted red, the rest dimmed, and the mask's
// outline in yellow.
func ExemplarPNG(px []byte, c, h, w int, mask []bool, scale int) *image.RGBA {
	scale = min(max(scale, 1), 16)
	out := image.NewRGBA(image.Rect(0, 0, w*scale, h*scale))
	in := func(x, y int) bool { return x >= 0 && y >= 0 && x < w && y < h && len(mask) == h*w && mask[y*w+x] }
	for y := range h {
		for x := range w {
			var rgb [3]float64
			for ch := range 3 {
				rgb[ch] = float64(px[(min(ch, c-1)*h+y)*w+x])
			}
			if in(x, y) {
				rgb = [3]float64{0.5*rgb[0] + 0.5*255, 0.5*rgb[1] + 0.5*40, 0.5*rgb[2] + 0.5*40}
			} else {
				rgb = [3]float64{0.55 * rgb[0], 0.55 * rgb[1], 0.6 * rgb[2]}
			}
			col := color.RGBA{uint8(rgb[0]), uint8(rgb[1]), uint8(rgb[2]), 255}
			edge := [4]bool{!in(x-1, y), !in(x+1, y), !in(x, y-1), !in(x, y+1)}
			for dy := range scale {
				for dx := range scale {
					c := col
					if in(x, y) && scale >= 3 && (edge[0] && dx == 0 || edge[1] && dx == scale-1 || edge[2] && dy == 0 || edge[3] && dy == scale-1) {
						c = color.RGBA{255, 230, 0, 255}
					}
					out.SetRGBA(x*scale+dx, y*scale+dy, c)
				}
			}
		}
	}
	return out
}

// RenderImageUnit prints an image unit for a terminal: its statistics and
// quantile, then each exemplar (at most maxEx; 0: all) as text art of the
// image with its mask (pixels as " .:o" by ink, masked ones as "-=*#").
// pixels reads a stored image.
func RenderImageUnit(w io.Writer, r *ImageUnitReport, maxEx int, pixels func(id int) ([]byte, int, int, int, error)) error {
	fmt.Fprintf(w, "%s   [%s, %d×%d grid per image]\n", r, r.Layout, r.GridH, r.GridW)
	q := "none"
	if r.Quantile != nil {
		q = fmt.Sprintf("%.4g", *r.Quantile)
		if r.QuantileErr > 0 {
			q += fmt.Sprintf(" (±%.2g, %s estimate)", r.QuantileErr, r.QuantileMethod)
		}
	}
	mx := "–"
	if r.Max != nil {
		mx = fmt.Sprintf("%.4g", *r.Max)
	}
	fmt.Fprintf(w, "spatial activations %d   mean %.4g   std %.4g   max %s   density>0 %.2f%%   q%g %s\n",
		r.Count, r.Mean, r.Std, mx, 100*r.Density, 100*r.QuantileQ, q)
	for i, e := range r.Exemplars {
		if maxEx > 0 && i >= maxEx {
			fmt.Fprintf(w, "(%d more exemplars: --top 0 shows all)\n", len(r.Exemplars)-i)
			break
		}
		box := "empty"
		if e.MaskBox != nil {
			box = fmt.Sprintf("x %d..%d, y %d..%d (%d px)", e.MaskBox[0], e.MaskBox[2]-1, e.MaskBox[1], e.MaskBox[3]-1, e.MaskPixels)
		}
		fmt.Fprintf(w, "\n#%d  %.4g  image %d (%s)  max at cell %v  mask %s\n", e.Rank, e.Activation, e.Image, e.Source, e.Argmax, box)
		px, c, h, wd, err := pixels(e.Image)
		if err != nil {
			return err
		}
		mask := r.Mask(e)
		step := max(1, (wd+47)/48) // at most 48 columns
		for y := 0; y < h; y += step * 2 {
			var b strings.Builder
			for x := 0; x < wd; x += step {
				var v float64
				for ch := range c {
					v += float64(px[(ch*h+y)*wd+x])
				}
				lvl := min(int(v/float64(c)/64), 3)
				if len(mask) == h*wd && mask[y*wd+x] {
					b.WriteByte("-=*#"[lvl])
				} else {
					b.WriteByte(" .:o"[lvl])
				}
			}
			fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		}
	}
	return nil
}
