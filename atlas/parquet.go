package atlas

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// ParquetRow is one row of the parquet export: one stored example of a unit,
// with the unit's statistics repeated on each of its rows (a left join of
// the units table onto the examples table), so that one file read with
// pandas.read_parquet holds both. Rows come in unit order, and within a unit
// in the order of the atlas: top examples by rank, then band examples from
// the highest octave down, then random examples by rank.
//
// A unit without examples (only in an atlas checkpointed before its first
// tokens) has one row whose example columns are null and lists empty.
// The histogram is not exported (it is in jsonl and in the database).
type ParquetRow struct {
	Hook         string   `parquet:"hook,dict"`
	Unit         int32    `parquet:"unit"`
	Count        int64    `parquet:"count"`
	Mean         float64  `parquet:"mean"`
	Var          float64  `parquet:"var"`
	Std          float64  `parquet:"std"`
	Min          *float64 `parquet:"min,optional"`
	Max          *float64 `parquet:"max,optional"`
	NPos         int64    `parquet:"n_pos"`
	NAbove       int64    `parquet:"n_above"`
	Density      float64  `parquet:"density"`
	DensityAbove float64  `parquet:"density_above"`

	Kind       *string  `parquet:"kind,optional,dict"` // "top", "band" or "random"
	Band       *int32   `parquet:"band,optional"`      // octave b ([2^b, 2^(b+1))) of a band example, else null
	Rank       *int32   `parquet:"rank,optional"`
	Activation *float32 `parquet:"activation,optional"`
	Shard      *int32   `parquet:"shard,optional"`
	Window     *int64   `parquet:"window,optional"`
	Pos        *int32   `parquet:"pos,optional"`
	Doc        *int64   `parquet:"doc,optional"`
	Start      *int32   `parquet:"start,optional"`
	Center     *int32   `parquet:"center,optional"`
	Token      *string  `parquet:"token,optional"` // display form of the example's token
	Text       *string  `parquet:"text,optional"`  // the span's tokens' display forms, joined

	Tokens     []int32   `parquet:"tokens,list"`
	TokenTexts []string  `parquet:"token_texts,list"`
	Acts       []float32 `parquet:"acts,list"`
}

// parquetRowGroup bounds the rows buffered before a row group is written
// (about 1000 units with the default settings).
const parquetRowGroup = 50_000

// exportParquet writes one parquet file of ParquetRow rows (snappy, data
// page v1), with the atlas Meta as JSON in the footer's key-value metadata
// under "glia.atlas".
func exportParquet(a *Atlas, w io.Writer) error {
	meta, err := json.Marshal(a.Meta)
	if err != nil {
		return err
	}
	pw := parquet.NewGenericWriter[ParquetRow](w,
		parquet.Compression(&snappy.Codec{}),
		parquet.DataPageVersion(1),
		parquet.MaxRowsPerRowGroup(parquetRowGroup),
		parquet.KeyValueMetadata("glia.atlas", string(meta)),
	)
	var buf []ParquetRow
	flush := func() error {
		if _, err := pw.Write(buf); err != nil {
			return fmt.Errorf("atlas: parquet: %w", err)
		}
		buf = buf[:0]
		return nil
	}
	err = a.Units(func(r *UnitReport) error {
		buf = appendParquetRows(buf, r)
		if len(buf) >= 4096 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("atlas: parquet: %w", err)
	}
	return nil
}

// appendParquetRows appends the rows of one unit.
func appendParquetRows(rows []ParquetRow, r *UnitReport) []ParquetRow {
	unit := ParquetRow{Hook: r.Hook, Unit: int32(r.Unit), Count: r.Count, Mean: r.Mean, Var: r.Var, Std: r.Std,
		Min: r.Min, Max: r.Max, NPos: r.NPos, NAbove: r.NAbove, Density: r.Density, DensityAbove: r.DensityAbove}
	n := len(rows)
	add := func(kind string, band *int32, e *Example) {
		row := unit
		row.Kind, row.Band = &kind, band
		row.Rank, row.Activation, row.Shard, row.Window = ptr(int32(e.Rank)), ptr(e.Activation), ptr(int32(e.Shard)), ptr(e.Window)
		row.Pos, row.Doc, row.Start, row.Center = ptr(int32(e.Pos)), ptr(e.Doc), ptr(int32(e.Start)), ptr(int32(e.Center))
		tok := ""
		if e.Center >= 0 && e.Center < len(e.Text) {
			tok = e.Text[e.Center]
		}
		row.Token, row.Text = &tok, ptr(strings.Join(e.Text, ""))
		row.Tokens, row.TokenTexts, row.Acts = e.Tokens, e.Text, e.Acts
		rows = append(rows, row)
	}
	for i := range r.Top {
		add(KindTop, nil, &r.Top[i])
	}
	for _, b := range r.Bands {
		for i := range b.Examples {
			add(KindBand, ptr(int32(b.Octave)), &b.Examples[i])
		}
	}
	for i := range r.Random {
		add(KindRandom, nil, &r.Random[i])
	}
	if len(rows) == n {
		rows = append(rows, unit)
	}
	return rows
}

func ptr[T any](v T) *T { return &v }
