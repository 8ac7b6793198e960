package explain

import (
	"fmt"
	"io"
	"strings"
)

// Render prints an explanation for people.
func Render(w io.Writer, e *Explanation, header string) {
	fmt.Fprintf(w, "%s:%d", e.Hook, e.Unit)
	if header != "" {
		fmt.Fprintf(w, "   (%s)", header)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  label       %s\n", e.Label)
	if e.Score != nil {
		fmt.Fprintf(w, "  score       %.3f  (Pearson r of the label's simulation with the true activations on %d held-out tokens)\n", *e.Score, e.HeldOut)
	} else {
		fmt.Fprintf(w, "  score       undefined  (%d held-out tokens; the simulation or the activations are constant)\n", e.HeldOut)
	}
	if len(e.Cues) > 0 {
		var s []string
		for _, c := range e.Cues {
			s = append(s, fmt.Sprintf("%s=%.1f", c, c.Weight))
		}
		fmt.Fprintf(w, "  cues        %s  (predicted activation 0-10)\n", strings.Join(s, ", "))
	}
	if e.LLM != nil {
		if e.LLM.Label != "" {
			sc := "undefined"
			if e.LLM.Score != nil {
				sc = fmt.Sprintf("%.3f on %d held-out tokens", *e.LLM.Score, e.LLM.HeldOut)
			}
			fmt.Fprintf(w, "  llm label   %s  (%s; score %s)\n", e.LLM.Label, e.LLM.Model, sc)
		}
		if e.LLM.Error != "" {
			fmt.Fprintf(w, "  llm error   %s\n", e.LLM.Error)
		}
	}
	max := "?"
	if e.Max != nil {
		max = fmt.Sprintf("%.3g", *e.Max)
	}
	fmt.Fprintf(w, "  density     %.2f%% of tokens > 0, %.2f%% > %g; max %s\n", 100*e.Density, 100*e.DensityAbove, e.AtlasThresh, max)
	if l := e.Lens; l != nil {
		fmt.Fprintf(w, "  promotes    %s\n", logits(l.Promoted, 10))
		fmt.Fprintf(w, "  suppresses  %s\n", logits(l.Suppressed, 10))
		fmt.Fprintf(w, "  direct      |W_out·g| %.3g, logit std %.3g (per unit activation, before the per-token norm scale)\n", l.OutNorm, l.LogitStd)
	}
	if in := e.Input; in != nil {
		fmt.Fprintf(w, "  inputs      over %d explanation tokens; firing = activation > %.3g (%.1f%% of them)\n", in.Tokens, in.Threshold, 100*in.BaseRate)
		fmt.Fprintf(w, "    by mean   %s\n", stats(in.ByMean, 8, false))
		fmt.Fprintf(w, "    by PMI    %s\n", stats(in.ByPMI, 8, true))
		fmt.Fprintf(w, "    bigrams   %s\n", stats(in.BigramMean, 6, false))
		fmt.Fprintf(w, "    by PMI    %s\n", stats(in.BigramPMI, 6, true))
	}
	if f := e.Facets; f != nil && len(f.Facets) > 0 {
		fmt.Fprintf(w, "  facets      %d, clustering %s", len(f.Facets), f.Representation)
		if len(f.Facets) > 1 {
			fmt.Fprintf(w, " (silhouette %.2f)", f.Silhouette)
		}
		fmt.Fprintln(w)
		for i, ft := range f.Facets {
			fmt.Fprintf(w, "    %d. %s; mean activation %.3g; top examples %v\n", i+1, ft.Label, ft.MeanAct, ft.Examples)
		}
	}
}

func logits(ts []TokenLogit, n int) string {
	var s []string
	for _, t := range ts[:min(n, len(ts))] {
		s = append(s, fmt.Sprintf("%q %+.3g", t.Text, t.Logit))
	}
	return strings.Join(s, ", ")
}

func stats(ts []TokenStat, n int, pmi bool) string {
	if len(ts) == 0 {
		return "(none seen twice)"
	}
	var s []string
	for _, t := range ts[:min(n, len(ts))] {
		name := fmt.Sprintf("%q", t.Text)
		if t.Prev >= 0 {
			name = fmt.Sprintf("%q+%q", t.PrevText, t.Text)
		}
		if pmi {
			s = append(s, fmt.Sprintf("%s %.2f (%d/%d)", name, t.PMI, t.Above, t.Count))
		} else {
			s = append(s, fmt.Sprintf("%s %.3g (n=%d)", name, t.Mean, t.Count))
		}
	}
	return strings.Join(s, ", ")
}
