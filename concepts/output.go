package concepts

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/glia-dev/glia/plot"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// LayerShare is how many distinct units a method kept in one layer (over
// all concepts) and their share of the layer's units.
type LayerShare struct {
	Layer int     `json:"layer"`
	Units int     `json:"units"`
	Total int     `json:"total"`
	Share float64 `json:"share"`
}

// LayerShares counts r's distinct units per layer.
func LayerShares(r *Result) []LayerShare {
	total := map[int]int{}
	for _, u := range r.All {
		total[layerOf(u.Hook)]++
	}
	seen := map[Unit]bool{}
	kept := map[int]int{}
	for _, x := range r.Rows {
		u := Unit{x.Hook, x.Unit}
		if !seen[u] {
			seen[u] = true
			kept[x.Layer]++
		}
	}
	var out []LayerShare
	for l, n := range total {
		out = append(out, LayerShare{Layer: l, Units: kept[l], Total: n, Share: float64(kept[l]) / float64(n)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Layer < out[j].Layer })
	return out
}

func (s LayerShare) String() string {
	return fmt.Sprintf("L%d %d/%d (%.2f%%)", s.Layer, s.Units, s.Total, 100*s.Share)
}

// csvHeader are the table's columns, in Row's JSON names.
var csvHeader = []string{"method", "concept", "hook", "unit", "layer", "name", "link", "score", "kind", "freq", "freq_rest", "mean", "mean_rest", "auroc", "alpha", "ci_lo", "ci_hi"}

func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// WriteCSV writes the rows of results as one table (empty cells for NaN).
func WriteCSV(w io.Writer, results []*Result) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for _, r := range results {
		for _, x := range r.Rows {
			cw.Write([]string{string(x.Method), x.Concept, x.Hook, strconv.Itoa(x.Unit), strconv.Itoa(x.Layer), x.Name, x.Link,
				num(x.Score), x.Kind, num(x.Freq), num(x.FreqRest), num(x.Mean), num(x.MeanRest), num(x.AUROC), num(x.Alpha), num(x.Lo), num(x.Hi)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// parquetRow is Row with NaN intervals as nulls.
type parquetRow struct {
	Method   string   `parquet:"method,dict"`
	Concept  string   `parquet:"concept,dict"`
	Hook     string   `parquet:"hook,dict"`
	Unit     int32    `parquet:"unit"`
	Layer    int32    `parquet:"layer"`
	Name     string   `parquet:"name"`
	Link     string   `parquet:"link"`
	Score    float64  `parquet:"score"`
	Kind     string   `parquet:"kind,dict"`
	Freq     float64  `parquet:"freq"`
	FreqRest float64  `parquet:"freq_rest"`
	Mean     float64  `parquet:"mean"`
	MeanRest float64  `parquet:"mean_rest"`
	AUROC    float64  `parquet:"auroc"`
	Alpha    float64  `parquet:"alpha"`
	Lo       *float64 `parquet:"ci_lo,optional"`
	Hi       *float64 `parquet:"ci_hi,optional"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// WriteParquet writes the same table as WriteCSV as one parquet file.
func WriteParquet(w io.Writer, results []*Result) error {
	pw := parquet.NewGenericWriter[parquetRow](w, parquet.Compression(&snappy.Codec{}))
	for _, r := range results {
		rows := make([]parquetRow, len(r.Rows))
		for i, x := range r.Rows {
			rows[i] = parquetRow{string(x.Method), x.Concept, x.Hook, int32(x.Unit), int32(x.Layer), x.Name, x.Link, x.Score, x.Kind,
				x.Freq, x.FreqRest, x.Mean, x.MeanRest, x.AUROC, x.Alpha, finite(x.Lo), finite(x.Hi)}
		}
		if _, err := pw.Write(rows); err != nil {
			return fmt.Errorf("concepts: parquet: %w", err)
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("concepts: parquet: %w", err)
	}
	return nil
}

// Report is the JSON output: every method's rows, per-layer shares and
// verification matrix.
type Report struct {
	Model   string         `json:"model"`
	Corpora []CorpusReport `json:"corpora"`
	Methods []MethodReport `json:"methods"`
}

// CorpusReport describes one corpus's pass.
type CorpusReport struct {
	Name    string `json:"name"`
	Windows int    `json:"windows"`
	Tokens  int64  `json:"tokens"`
	Sampled int    `json:"sampled_windows"`
}

// MethodReport is one method's result.
type MethodReport struct {
	Method    Method       `json:"method"`
	Rows      []Row        `json:"units"`
	Layers    []LayerShare `json:"layers"`
	Verify    []*Matrix    `json:"verify,omitempty"`
	OwnColumn *float64     `json:"own_first_by_column,omitempty"` // see Matrix.OwnFirst
	OwnRow    *float64     `json:"own_first_by_row,omitempty"`
	Shift     *GenShift    `json:"generation_shift,omitempty"`
}

// NewMethodReport gathers r and its matrices (the first one's OwnFirst).
func NewMethodReport(r *Result, ms []*Matrix) MethodReport {
	rep := MethodReport{Method: r.Method, Rows: r.Rows, Layers: LayerShares(r), Verify: ms}
	if rep.Rows == nil {
		rep.Rows = []Row{}
	}
	if len(ms) > 0 {
		c, rw, n := ms[0].OwnFirst()
		if n > 0 {
			rep.OwnColumn, rep.OwnRow = &c, &rw
		}
	}
	return rep
}

// WriteJSON writes rep (undefined intervals and standard errors as null).
func WriteJSON(w io.Writer, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return fmt.Errorf("concepts: json: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// MarshalJSON writes NaN intervals as null.
func (x Row) MarshalJSON() ([]byte, error) {
	type plain Row
	return json.Marshal(struct {
		plain
		Lo *float64 `json:"ci_lo"`
		Hi *float64 `json:"ci_hi"`
	}{plain(x), finite(x.Lo), finite(x.Hi)})
}

// MarshalJSON writes undefined standard errors (one window) as null.
func (c Cell) MarshalJSON() ([]byte, error) {
	type plain Cell
	return json.Marshal(struct {
		plain
		StdErr       *float64 `json:"stderr"`
		WindowStdErr *float64 `json:"window_stderr"`
	}{plain(c), finite(c.StdErr), finite(c.WindowStdErr)})
}

// HeatMap draws the matrix: loss change, concepts down, corpora across.
func (mx *Matrix) HeatMap() *plot.HeatMap {
	vals := make([][]float64, len(mx.Cells))
	for i, row := range mx.Cells {
		vals[i] = make([]float64, len(row))
		for j, c := range row {
			vals[i][j] = c.Delta
		}
	}
	title := fmt.Sprintf("%s units %s: next-token loss change", mx.Method, mx.Mode)
	if mx.Mode == ModeScale {
		title = fmt.Sprintf("%s units ×%g: next-token loss change", mx.Method, mx.Factor)
	}
	return &plot.HeatMap{Title: title, XTitle: "corpus", YTitle: "units of concept", XLabels: mx.Corpora, YLabels: mx.Concepts, Values: vals, Value: "Δ loss (nats/token)"}
}
