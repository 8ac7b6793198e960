package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/plot"
)

// Grid is a heat map's data: an experiment's values by layer, with the
// labels of its rows and columns. The CLI draws it (HeatMap) and the
// server sends it as JSON; both get it from the builders below.
type Grid struct {
	Title string `json:"title"`
	// RowTitle and ColTitle name the axes of the drawing; the pages
	// label their own axes.
	RowTitle string   `json:"-"`
	ColTitle string   `json:"-"`
	Value    string   `json:"-"` // what the values measure, the colour bar's title
	Rows     []string `json:"rows"`
	Cols     []string `json:"cols"`
	Values   Values   `json:"values"`
}

// Values are a grid's cells, [row][col]. NaN, a cell that does not exist,
// is null in JSON (encoding/json rejects NaN).
type Values [][]float64

func (v Values) MarshalJSON() ([]byte, error) {
	cells := make([][]*float64, len(v))
	for i, row := range v {
		cells[i] = make([]*float64, len(row))
		for j, x := range row {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				cells[i][j] = &row[j]
			}
		}
	}
	return json.Marshal(cells)
}

func (v *Values) UnmarshalJSON(data []byte) error {
	var cells [][]*float64
	if err := json.Unmarshal(data, &cells); err != nil {
		return err
	}
	if cells == nil {
		*v = nil
		return nil
	}
	*v = make(Values, len(cells))
	for i, row := range cells {
		(*v)[i] = make([]float64, len(row))
		for j, x := range row {
			(*v)[i][j] = math.NaN()
			if x != nil {
				(*v)[i][j] = *x
			}
		}
	}
	return nil
}

// LayerGrid is values by layer: rows L0, L1, … and columns cols (0, 1, …
// when cols is nil).
func LayerGrid(title, colTitle string, values [][]float64, cols []string) Grid {
	g := Grid{Title: title, RowTitle: "layer", ColTitle: colTitle, Values: values, Cols: cols}
	for l := range values {
		g.Rows = append(g.Rows, "L"+strconv.Itoa(l))
	}
	if cols == nil && len(values) > 0 {
		for c := range values[0] {
			g.Cols = append(g.Cols, strconv.Itoa(c))
		}
	}
	return g
}

// HeatMap is the grid to draw.
func (g Grid) HeatMap() *plot.HeatMap {
	return &plot.HeatMap{Title: g.Title, XTitle: g.ColTitle, YTitle: g.RowTitle, XLabels: g.Cols, YLabels: g.Rows, Values: g.Values, Value: g.Value}
}

// Grid is the sweep's heat map: the mean effect over pairs, or pair 0's
// when the pairs differ in length. Per pos its columns are pair 0's
// positions, labelled with their tokens as token shows them ("14 Lily/Tim"
// where clean and corrupt differ); p is pair 0.
func (r *PatchResult) Grid(p Pair, token func(id int32) string) Grid {
	values, note := r.Mean, fmt.Sprintf(", mean over %d pairs", len(r.Pairs))
	if values == nil {
		values, note = r.Pairs[0].Effect, ", pair 0 (pairs differ in length)"
	}
	if len(r.Pairs) == 1 {
		note = ""
	}
	title := fmt.Sprintf("%s patching, per %s%s: normalised effect", r.Kind, r.Per, note)
	var g Grid
	switch r.Per {
	case PerPos:
		n := r.Pairs[0].Len
		trimmed := make([][]float64, len(values))
		for l, row := range values {
			trimmed[l] = row[:min(n, len(row))]
		}
		g = LayerGrid(title, r.Per.Axis(), trimmed, posLabels(n, p, token))
	case PerLayer:
		g = LayerGrid(title, r.Per.Axis(), values, []string{"all"})
	default:
		g = LayerGrid(title, r.Per.Axis(), values, nil)
	}
	g.Value = effect
	return g
}

const effect = "normalised effect"

// posLabels are "POS TOKEN" for n positions aligned at the end, with
// "CLEAN/CORRUPT" where the tokens differ.
func posLabels(n int, p Pair, token func(id int32) string) []string {
	out := make([]string, n)
	for c := range out {
		ci, ki := c-(n-len(p.Clean)), c-(n-len(p.Corrupt))
		out[c] = strconv.Itoa(c)
		switch {
		case ci >= 0 && (ki < 0 || p.Corrupt[ki] == p.Clean[ci]):
			out[c] += " " + token(p.Clean[ci])
		case ci >= 0:
			out[c] += " " + token(p.Clean[ci]) + "/" + token(p.Corrupt[ki])
		case ki >= 0:
			out[c] += " /" + token(p.Corrupt[ki])
		}
	}
	return out
}

// Grid lays the single-head sender sets out as sender layer × head (NaN
// where no such set was run), for a model of layers × heads.
func (r *PathResult) Grid(layers, heads int) Grid {
	values := make([][]float64, layers)
	for l := range values {
		values[l] = nanRow(heads)
	}
	for s, set := range r.Senders {
		if len(set) == 1 && set[0].Layer < layers && set[0].Head < heads {
			values[set[0].Layer][set[0].Head] = r.Mean[s]
		}
	}
	recv := make([]string, len(r.Receivers))
	for i, rc := range r.Receivers {
		recv[i] = rc.String()
	}
	g := LayerGrid(fmt.Sprintf("path patching to %s: normalised effect per sender head", strings.Join(recv, ",")), "sender head", values, nil)
	g.RowTitle, g.Value = "sender layer", effect
	return g
}
