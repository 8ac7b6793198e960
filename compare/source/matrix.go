package source

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/glia-dev/glia/compare"
	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/hook"
)

// Matrix is one representation of the stimuli: row i is stimulus IDs[i].
type Matrix struct {
	Name string     // what it is, for tables: a hook name, a file, a tensor
	IDs  []string   // the stimuli's ids; nil when the source has none (rows are in stimulus order)
	X    *mat.Dense // stimuli × features
}

// IDsKey is the safetensors metadata key holding the stimuli's ids, a
// JSON array of strings, one per row.
const IDsKey = "stimulus_ids"

// Open reads the matrices in a file, by its extension: .npy (one, no
// ids), .csv (one; the first column is the id) or .safetensors (every 2-D
// tensor whose name matches the glob tensors, "" for all, in file order;
// ids from the IDsKey metadata).
func Open(path, tensors string) ([]*Matrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Src: path, Msg: "opening", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Src: path, Msg: "stat", Err: err}
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".npy":
		x, err := ReadNPY(path, f, st.Size())
		if err != nil {
			return nil, err
		}
		return []*Matrix{{Name: filepath.Base(path), X: x}}, nil
	case ".csv":
		m, err := ReadCSV(path, f)
		if err != nil {
			return nil, err
		}
		return []*Matrix{m}, nil
	case ".safetensors":
		return readSafetensors(path, tensors)
	default:
		return nil, &Error{Src: path, Msg: fmt.Sprintf("unknown extension %q: want .npy, .csv or .safetensors", ext)}
	}
}

// ReadCSV reads stimuli × features from CSV: the first column is the
// stimulus id, the others numbers. A first row whose feature cells are not
// all numbers is a header and is skipped.
func ReadCSV(name string, r io.Reader) (*Matrix, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	m := &Matrix{Name: filepath.Base(name)}
	var vals []float64
	width := -1
	seen := map[string]int{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &Error{Src: name, Line: line, Msg: "reading CSV", Err: err}
		}
		if len(rec) < 2 {
			return nil, &Error{Src: name, Line: line, Msg: "want an id and at least one feature"}
		}
		row := make([]float64, len(rec)-1)
		bad := -1
		for j, c := range rec[1:] {
			v, err := strconv.ParseFloat(strings.TrimSpace(c), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				bad = j
				break
			}
			row[j] = v
		}
		if bad >= 0 {
			if line == 1 {
				continue // header
			}
			return nil, &Error{Src: name, Line: line, Msg: fmt.Sprintf("column %d: %q is not a finite number", bad+2, rec[bad+1])}
		}
		if width >= 0 && len(row) != width {
			return nil, &Error{Src: name, Line: line, Msg: fmt.Sprintf("%d features, earlier rows %d", len(row), width)}
		}
		width = len(row)
		id := strings.TrimSpace(rec[0])
		if prev, dup := seen[id]; dup {
			return nil, &Error{Src: name, Line: line, Msg: fmt.Sprintf("id %q already on line %d", id, prev)}
		}
		seen[id] = line
		m.IDs = append(m.IDs, id)
		vals = append(vals, row...)
	}
	if len(m.IDs) == 0 {
		return nil, &Error{Src: name, Msg: "no data rows"}
	}
	m.X = mat.NewDense(len(m.IDs), width, vals)
	return m, nil
}

func readSafetensors(path, glob string) ([]*Matrix, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	if s, ok := f.Metadata()[IDsKey]; ok {
		if err := json.Unmarshal([]byte(s), &ids); err != nil {
			return nil, &Error{Src: path, Msg: fmt.Sprintf("metadata %q is not a JSON array of strings", IDsKey), Err: err}
		}
	}
	var out []*Matrix
	for _, name := range f.Names() {
		if glob != "" && !hook.Match(glob, name) {
			continue
		}
		shape, _ := f.Shape(name)
		if len(shape) != 2 {
			if glob == "" {
				continue // biases, scalars: not stimuli × features
			}
			return nil, &Error{Src: path, Msg: fmt.Sprintf("tensor %q has shape %v: want 2-D stimuli × features", name, shape)}
		}
		v, err := f.Float32(name)
		if err != nil {
			return nil, err
		}
		x := mat.NewDense(shape[0], shape[1], nil)
		for i, w := range v {
			x.RawMatrix().Data[i] = float64(w)
		}
		if ids != nil && len(ids) != shape[0] {
			return nil, &Error{Src: path, Msg: fmt.Sprintf("tensor %q has %d rows but metadata %q has %d ids", name, shape[0], IDsKey, len(ids))}
		}
		out = append(out, &Matrix{Name: name, IDs: ids, X: x})
	}
	if len(out) == 0 {
		return nil, &Error{Src: path, Msg: fmt.Sprintf("no 2-D tensor matches %q", glob)}
	}
	return out, nil
}

// ErrMismatch is the kind of every alignment error.
var ErrMismatch = errors.New("stimuli do not match")

// Align puts b's rows in a's stimulus order. With ids on both sides the
// id sets must be equal; otherwise the counts must be, and rows are
// taken to be in the same order. It returns b itself when nothing moves.
func Align(a, b *Matrix) (*Matrix, error) {
	na, _ := a.X.Dims()
	nb, _ := b.X.Dims()
	if a.IDs == nil || b.IDs == nil {
		if na != nb {
			return nil, &Error{Src: a.Name + " vs " + b.Name, Msg: fmt.Sprintf("%d stimuli vs %d", na, nb), Err: ErrMismatch}
		}
		return b, nil
	}
	at := make(map[string]int, nb)
	for i, id := range b.IDs {
		at[id] = i
	}
	var missing, extra []string
	used := make(map[string]bool, na)
	for _, id := range a.IDs {
		if _, ok := at[id]; !ok {
			missing = append(missing, id)
		}
		used[id] = true
	}
	for _, id := range b.IDs {
		if !used[id] {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 || na != nb {
		return nil, &Error{Src: a.Name + " vs " + b.Name, Err: ErrMismatch,
			Msg: fmt.Sprintf("%d stimuli vs %d; only in the first: %s; only in the second: %s", na, nb, few(missing), few(extra))}
	}
	_, d := b.X.Dims()
	x := mat.NewDense(na, d, nil)
	same := true
	for i, id := range a.IDs {
		j := at[id]
		same = same && i == j
		x.SetRow(i, b.X.RawRowView(j))
	}
	if same {
		return b, nil
	}
	return &Matrix{Name: b.Name, IDs: a.IDs, X: x}, nil
}

// few lists up to five ids.
func few(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	s := ids
	if len(s) > 5 {
		s = s[:5]
	}
	q := make([]string, len(s))
	for i, id := range s {
		q[i] = strconv.Quote(id)
	}
	out := strings.Join(q, ", ")
	if len(ids) > 5 {
		out += fmt.Sprintf(" and %d more", len(ids)-5)
	}
	return out
}

// AlignAll puts every matrix of a and b in the stimulus order of a's first.
func AlignAll(a, b []*Matrix) (xa, xb []mat.Matrix, err error) {
	for _, ms := range [][]*Matrix{a, b} {
		var xs []mat.Matrix
		for _, m := range ms {
			al, err := Align(a[0], m)
			if err != nil {
				return nil, nil, err
			}
			xs = append(xs, al.X)
		}
		if xa == nil {
			xa = xs
		} else {
			xb = xs
		}
	}
	return xa, xb, nil
}

// Names are the matrices' names, in order.
func Names(ms []*Matrix) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// NameCell is err with a compare.CellError's row and column indices,
// which mean nothing to a user, replaced by the names of a's and b's
// matrices.
func NameCell(err error, a, b []*Matrix) error {
	var ce *compare.CellError
	if !errors.As(err, &ce) {
		return err
	}
	var where []string
	if ce.Row >= 0 {
		where = append(where, a[ce.Row].Name)
	}
	if ce.Col >= 0 {
		where = append(where, b[ce.Col].Name)
	}
	return fmt.Errorf("%s: %w", strings.Join(where, " vs "), ce.Err)
}
