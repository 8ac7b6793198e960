package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/glia-dev/glia/format/safetensors"
)

// npyBytes writes a .npy v1 file as numpy does: the header padded with
// spaces to a multiple of 64 bytes, ending in a newline.
func npyBytes(header string, data []byte) []byte {
	pad := 64 - (10+len(header)+1)%64
	h := header + strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

func f64s(v ...float64) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func TestReadNPY(t *testing.T) {
	f32 := new(bytes.Buffer)
	binary.Write(f32, binary.LittleEndian, []float32{1, 2.5, -3, 4, 5, 6})
	tests := []struct {
		name    string
		file    []byte
		want    []float64 // nil: an error is expected
		errText string
	}{
		{"f8", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", f64s(1, 2, 3, 4, 5, 6)), []float64{1, 2, 3, 4, 5, 6}, ""},
		{"f4", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", f32.Bytes()), []float64{1, 2.5, -3, 4, 5, 6}, ""},
		{"fortran", npyBytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", f64s(1, 2, 3, 4, 5, 6)), nil, "Fortran"},
		{"int", npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", f64s(1, 2, 3, 4, 5, 6)), nil, "dtype"},
		{"big-endian", npyBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", f64s(1, 2, 3, 4, 5, 6)), nil, "dtype"},
		{"1-D", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", f64s(1, 2, 3, 4, 5, 6)), nil, "2-D"},
		{"short data", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 4), }", f64s(1, 2, 3, 4, 5, 6)), nil, "needs 64 bytes"},
		{"huge shape", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", f64s(1)), nil, "needs"},
		{"nan", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", f64s(1, math.NaN())), nil, "NaN"},
		{"extra key", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), 'x': 1}", f64s(1)), nil, "unexpected key"},
		{"no magic", []byte("PK\x03\x04 not numpy at all"), nil, "magic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := ReadNPY(tc.name, bytes.NewReader(tc.file), int64(len(tc.file)))
			if tc.want == nil {
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("got %v, want a *source.Error containing %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(tc.want, x.RawMatrix().Data); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// FuzzReadNPY: no panic, and a file that reads has exactly the bytes its
// shape says (so nothing was allocated beyond the file's size).
func FuzzReadNPY(f *testing.F) {
	f.Add(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", f64s(1, 2, 3, 4, 5, 6)))
	f.Add(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", f64s(1)))
	f.Add(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", nil))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ReadNPY("fuzz", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		r, c := x.Dims()
		if r*c*4 > len(b) {
			t.Fatalf("%d×%d matrix from %d bytes", r, c, len(b))
		}
	})
}

func TestReadCSV(t *testing.T) {
	m, err := ReadCSV("t.csv", strings.NewReader("id,a,b\ns1,1,2\ns2, 3 ,4e1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]string{"s1", "s2"}, m.IDs); d != "" {
		t.Errorf("ids (-want +got)\n%s", d)
	}
	if d := diff([]float64{1, 2, 3, 40}, m.X.RawMatrix().Data); d != "" {
		t.Errorf("values (-want +got)\n%s", d)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"ragged", "s1,1,2\ns2,3\n", "line 2"},
		{"not a number", "s1,1,2\ns2,3,x\n", `"x" is not a finite number (line 2)`},
		{"duplicate id", "s1,1\ns1,2\n", `id "s1" already on line 1`},
		{"empty", "id,a\n", "no data rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV("t.csv", strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenSafetensors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.safetensors")
	ts := []safetensors.Tensor{
		{Name: "v1", Shape: []int{3, 2}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "bias", Shape: []int{2}, Data: []float32{1, 2}},
	}
	if err := safetensors.Write(p, ts, map[string]string{IDsKey: `["a","b","c"]`}); err != nil {
		t.Fatal(err)
	}
	ms, err := Open(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Name != "v1" {
		t.Fatalf("got %d matrices, want v1 only", len(ms))
	}
	if d := diff([]string{"a", "b", "c"}, ms[0].IDs); d != "" {
		t.Errorf("ids (-want +got)\n%s", d)
	}
	if _, err := Open(p, "bias"); err == nil || !strings.Contains(err.Error(), "want 2-D") {
		t.Errorf("a 1-D tensor asked for by name: got %v", err)
	}
}

func TestAlign(t *testing.T) {
	a := &Matrix{Name: "a", IDs: []string{"x", "y", "z"}, X: mat.NewDense(3, 1, []float64{1, 2, 3})}
	b := &Matrix{Name: "b", IDs: []string{"z", "x", "y"}, X: mat.NewDense(3, 1, []float64{30, 10, 20})}
	got, err := Align(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]float64{10, 20, 30}, got.X.RawMatrix().Data); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	noIDs := &Matrix{Name: "n", X: mat.NewDense(2, 1, nil)}
	wrongID := &Matrix{Name: "w", IDs: []string{"x", "y", "q"}, X: mat.NewDense(3, 1, nil)}
	for _, tc := range []struct {
		name string
		b    *Matrix
		want string
	}{
		{"count", noIDs, "3 stimuli vs 2"},
		{"ids", wrongID, `only in the first: "z"; only in the second: "q"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Align(a, tc.b)
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMismatch containing %q", err, tc.want)
			}
		})
	}
}

func TestPool(t *testing.T) {
	acts := []float32{1, 2, 3, 4, 5, 6} // 3 positions × 2
	for _, tc := range []struct {
		spec string
		want []float64
	}{
		{"last", []float64{5, 6}},
		{"mean", []float64{3, 4}},
		{"pos:0", []float64{1, 2}},
		{"pos:-2", []float64{3, 4}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			p, err := ParsePool(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float64, 2)
			if err := p.Apply(acts, 3, 2, out); err != nil {
				t.Fatal(err)
			}
			if d := diff(tc.want, out); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	p, _ := ParsePool("pos:3")
	if err := p.Apply(acts, 3, 2, make([]float64, 2)); err == nil {
		t.Error("pos:3 of 3 tokens: no error")
	}
	if _, err := ParsePool("max"); err == nil {
		t.Error("ParsePool(max): no error")
	}
}

// TestOpenNPYFile: Open dispatches on the extension and names the file.
func TestOpenNPYFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.npy")
	if err := os.WriteFile(p, npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", f64s(7, 8)), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := Open(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ms[0].X.RawMatrix().Data); got != "[7 8]" {
		t.Errorf("got %s", got)
	}
	if _, err := Open(filepath.Join(dir, "r.txt"), ""); err == nil {
		t.Error("unknown extension: no error")
	}
}

// diff is "" when want and got are deeply equal, else both, "(-want +got)".
func diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("-%v\n+%v", want, got)
}
