package server

import (
	"math"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/experiment"
)

// The api package imports nothing of glia's, so that clients need not link
// the engine; the server converts its own types at the edge. Conversions
// between identical structs (api.Dims(arch.Dims)) ignore the tags, and stop
// compiling when one side gains a field.

// wire is l as sent in the overview.
func (l Limits) wire() api.Limits {
	return api.Limits{MaxBody: l.MaxBody, MaxPromptChars: l.MaxPromptChars, MaxPromptTokens: l.MaxPromptTokens, MaxNew: l.MaxNew,
		MaxPatchTokens: l.MaxPatchTokens, MaxPatchCells: l.MaxPatchCells, MaxSpecs: l.MaxSpecs, TimeoutSeconds: l.Timeout.Seconds(),
		MaxRuns: l.MaxRuns, MaxQueue: l.MaxQueue, MaxCacheBytes: l.MaxCacheBytes, MaxBatch: l.MaxBatch, MaxStimuli: l.MaxStimuli}
}

// each maps f over xs, keeping nil nil (null in JSON, as before).
func each[A, B any](xs []A, f func(A) B) []B {
	if xs == nil {
		return nil
	}
	out := make([]B, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func wireHook(h atlas.HookSpec) api.HookSpec { return api.HookSpec(h) }

func wireExample(e atlas.Example) api.Example { return api.Example(e) }

func wireSettings(s atlas.Settings) api.Settings {
	return api.Settings{Hooks: each(s.Hooks, wireHook), Ctx: s.Ctx, TopK: s.TopK, Radius: s.Radius, Threshold: s.Threshold,
		RandomK: s.RandomK, Bands: s.Bands, BandK: s.BandK}
}

func wireReport(r *atlas.UnitReport) *api.UnitReport {
	band := func(b atlas.Band) api.Band {
		return api.Band{Octave: b.Octave, Lo: b.Lo, Hi: b.Hi, Count: b.Count, QLo: b.QLo, QHi: b.QHi, Examples: each(b.Examples, wireExample)}
	}
	return &api.UnitReport{Hook: r.Hook, Unit: r.Unit, Index: r.Index, Axes: r.Axes, Count: r.Count, Mean: r.Mean, Var: r.Var, Std: r.Std,
		Min: r.Min, Max: r.Max, NPos: r.NPos, NAbove: r.NAbove, Density: r.Density, DensityAbove: r.DensityAbove, Threshold: r.Threshold,
		Hist: r.Hist, Top: each(r.Top, wireExample), Bands: each(r.Bands, band), Random: each(r.Random, wireExample)}
}

// wireGrid sends a cell that does not exist (NaN, or infinite) as null.
func wireGrid(g experiment.Grid) api.Grid {
	return api.Grid{Title: g.Title, Rows: g.Rows, Cols: g.Cols, Values: each(g.Values, func(row []float64) []*float64 {
		return each(row, func(x float64) *float64 {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil
			}
			return &x
		})
	})}
}
