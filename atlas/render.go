package atlas

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/tokenizer"
)

// RenderOptions control Render.
type RenderOptions struct {
	Color    bool // ANSI 256-colour backgrounds (terminals)
	MaxTop   int  // top examples shown (0: all)
	MaxBand  int  // examples per band shown (0: all)
	MaxRand  int  // random examples shown (0: all)
	ModelTag string
}

// heat is a white-to-red ramp of 256-colour palette indices.
var heat = []int{231, 230, 229, 228, 227, 226, 220, 214, 208, 202, 196}

// Render writes a unit for people: statistics, a histogram sparkline and
// the examples, tokens coloured by activation (or bracketed without colour).
func Render(w io.Writer, r *UnitReport, o RenderOptions) {
	bold := func(s string) string {
		if o.Color {
			return "\x1b[1m" + s + "\x1b[0m"
		}
		return s
	}
	fmt.Fprintf(w, "%s", bold(fmt.Sprintf("%s:%d", r.Hook, r.Unit)))
	if len(r.Index) == 2 {
		fmt.Fprintf(w, "  (head %d, index %d of %d)", r.Index[0], r.Index[1], r.Axes[1])
	} else if len(r.Index) > 2 {
		fmt.Fprintf(w, "  (index %v of %v)", r.Index, r.Axes)
	}
	if o.ModelTag != "" {
		fmt.Fprintf(w, "  (%s)", o.ModelTag)
	}
	fmt.Fprintln(w)
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.4g", *p)
	}
	fmt.Fprintf(w, "  tokens %d   mean %.4g   std %.4g   min %s   max %s\n", r.Count, r.Mean, r.Std, f(r.Min), f(r.Max))
	fmt.Fprintf(w, "  density  >0: %.3g%%   >%g: %.3g%%\n", 100*r.Density, r.Threshold, 100*r.DensityAbove)
	if lo, hi, spark := sparkline(r.Hist); spark != "" {
		fmt.Fprintf(w, "  histogram  %.3g %s %.3g\n", lo, spark, hi)
	}
	var maxAct float32
	if r.Max != nil {
		maxAct = float32(*r.Max)
	}
	ex := func(label string, e Example) {
		fmt.Fprintf(w, "  %4s %8.4g  %s\n", label, e.Activation, renderTokens(e, maxAct, o.Color))
	}
	limit := func(n, m int) int {
		if m > 0 && m < n {
			return m
		}
		return n
	}
	if len(r.Top) > 0 {
		fmt.Fprintln(w, bold("Top activations"))
		for i := range limit(len(r.Top), o.MaxTop) {
			ex(fmt.Sprintf("%d.", i+1), r.Top[i])
		}
	}
	if len(r.Bands) > 0 {
		fmt.Fprintln(w, bold("Activation bands (random examples within each band)"))
		for _, b := range r.Bands {
			fmt.Fprintf(w, "  [%g, %g)  %d tokens, quantiles %.4g%%–%.4g%%\n", b.Lo, b.Hi, b.Count, 100*b.QLo, 100*b.QHi)
			for i := range limit(len(b.Examples), o.MaxBand) {
				ex("-", b.Examples[i])
			}
		}
	}
	if len(r.Random) > 0 {
		fmt.Fprintln(w, bold("Random tokens"))
		for i := range limit(len(r.Random), o.MaxRand) {
			ex("-", r.Random[i])
		}
	}
}

// renderTokens shows an example's span; the example's own token is
// underlined (colour) or in [[double brackets]], and tokens at least half as
// active as the unit's max are coloured or [bracketed].
func renderTokens(e Example, maxAct float32, color bool) string {
	var sb strings.Builder
	for i, id := range e.Tokens {
		t := tokenizer.Display(e.Text[i])
		_ = id
		a := e.Acts[i]
		if color {
			if maxAct > 0 && a > 0 {
				lvl := int(math.Round(float64(a/maxAct) * float64(len(heat)-1)))
				lvl = min(max(lvl, 0), len(heat)-1)
				fmt.Fprintf(&sb, "\x1b[48;5;%d;38;5;16m", heat[lvl])
			}
			if i == e.Center {
				sb.WriteString("\x1b[4m")
			}
			sb.WriteString(t)
			sb.WriteString("\x1b[0m")
			continue
		}
		switch {
		case i == e.Center:
			fmt.Fprintf(&sb, "[[%s]]", t)
		case maxAct > 0 && a >= maxAct/2:
			fmt.Fprintf(&sb, "[%s]", t)
		default:
			sb.WriteString(t)
		}
	}
	return sb.String()
}

// sparkline draws the non-empty range of a histogram, log-scaled.
func sparkline(hist []uint64) (lo, hi float64, s string) {
	first, last := -1, -1
	var peak uint64
	for i, c := range hist {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
			peak = max(peak, c)
		}
	}
	if first < 0 {
		return 0, 0, ""
	}
	edges := HistEdges()
	levels := []rune("▁▂▃▄▅▆▇█")
	var sb strings.Builder
	for i := first; i <= last; i++ {
		if hist[i] == 0 {
			sb.WriteRune(' ')
			continue
		}
		l := int(math.Log1p(float64(hist[i])) / math.Log1p(float64(peak)) * float64(len(levels)-1))
		sb.WriteRune(levels[l])
	}
	return edges[first], edges[last+1], sb.String()
}

// Export writes every unit: "jsonl" (one UnitReport per line) or "csv" (one
// row per unit with its statistics).
func Export(a *Atlas, w io.Writer, format string) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		return a.Units(func(r *UnitReport) error { return enc.Encode(r) })
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"hook", "unit", "count", "mean", "std", "min", "max", "density", "density_above", "top_activation", "top_text"})
		err := a.Units(func(r *UnitReport) error {
			g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
			p := func(x *float64) string {
				if x == nil {
					return ""
				}
				return g(*x)
			}
			ta, tt := "", ""
			if len(r.Top) > 0 {
				ta = g(float64(r.Top[0].Activation))
				tt = strings.Join(r.Top[0].Text, "")
			}
			return cw.Write([]string{r.Hook, strconv.Itoa(r.Unit), strconv.FormatInt(r.Count, 10), g(r.Mean), g(r.Std),
				p(r.Min), p(r.Max), g(r.Density), g(r.DensityAbove), ta, tt})
		})
		cw.Flush()
		if err != nil {
			return err
		}
		return cw.Error()
	case "parquet":
		return exportParquet(a, w)
	}
	return fmt.Errorf("atlas: unknown export format %q (jsonl, csv or parquet)", format)
}
