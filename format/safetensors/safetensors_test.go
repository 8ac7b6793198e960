package safetensors

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

	"github.com/glia-dev/glia/format"
	"github.com/glia-dev/glia/format/internal/formattest"
)

// build assembles a safetensors file from a raw JSON header and data bytes.
func build(hdr string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestFixtures(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/hf-tiny/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no committed fixtures under testdata/hf-tiny (%v)", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			s, err := OpenModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(s.Names()) == 0 {
				t.Fatal("no tensors")
			}
			if s.Metadata()["format"] != "pt" {
				t.Errorf("metadata %v", s.Metadata())
			}
			for _, n := range s.Names() {
				shape, ok := s.Shape(n)
				if !ok {
					t.Fatalf("%s: no shape", n)
				}
				d, err := s.Float32(n)
				if err != nil {
					t.Fatal(err)
				}
				numel := 1
				for _, x := range shape {
					numel *= x
				}
				if numel != len(d) {
					t.Fatalf("%s: shape %v but %d values", n, shape, len(d))
				}
				if err := format.CheckFinite(n, d); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestReferenceInt64(t *testing.T) {
	f, err := Open("../../testdata/hf-tiny/gpt2/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if dt, _ := f.DType("input_ids"); dt != I64 {
		t.Fatalf("dtype %v", dt)
	}
	ids, err := f.Int64s("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 24 {
		t.Fatalf("len %d", len(ids))
	}
	if _, err := f.Float32("input_ids"); !errors.Is(err, ErrDType) {
		t.Fatalf("Float32 of I64: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	in := []Tensor{
		{Name: "b.weight", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}},
		{Name: "a<&>\"q\"", Shape: []int{4}, Data: []float32{-0.5, 0, float32(math.NaN()), 1e-42}},
		{Name: "scalar", Shape: []int{}, Data: []float32{7}},
		{Name: "empty", Shape: []int{0, 5}, Data: nil},
	}
	meta := map[string]string{"format": "pt", "note": "ünïcode \"q\""}
	if err := Write(p, in, meta); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	hl := binary.LittleEndian.Uint64(raw)
	if hl%8 != 0 {
		t.Fatalf("header length %d not padded to 8", hl)
	}
	if !strings.HasPrefix(string(raw[8:]), `{"__metadata__":`) {
		t.Fatalf("header %q", raw[8:8+hl])
	}
	// Data in the given order.
	if !bytes.Equal(raw[8+hl:8+hl+24], f32bytes(in[0].Data...)) {
		t.Fatal("first tensor bytes not first")
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Metadata(), meta) {
		t.Fatalf("metadata %v", f.Metadata())
	}
	if got := f.Names(); !reflect.DeepEqual(got, []string{"a<&>\"q\"", "b.weight", "empty", "scalar"}) {
		t.Fatalf("names %q", got)
	}
	for _, tt := range in {
		shape, _ := f.Shape(tt.Name)
		if !reflect.DeepEqual(shape, tt.Shape) && !(len(shape) == 0 && len(tt.Shape) == 0) {
			t.Errorf("%s shape %v want %v", tt.Name, shape, tt.Shape)
		}
		d, err := f.Float32(tt.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != len(tt.Data) {
			t.Fatalf("%s len", tt.Name)
		}
		for i := range d {
			if math.Float32bits(d[i]) != math.Float32bits(tt.Data[i]) {
				t.Errorf("%s[%d] = %v want %v", tt.Name, i, d[i], tt.Data[i])
			}
		}
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("dir has %d entries", len(ents))
	}
	// WriteTo matches Write.
	var buf bytes.Buffer
	n, err := WriteTo(&buf, in, meta)
	if err != nil || n != int64(len(raw)) || !bytes.Equal(buf.Bytes(), raw) {
		t.Fatalf("WriteTo differs: n=%d err=%v", n, err)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.safetensors")
	cases := map[string][]Tensor{
		"shape mismatch": {{Name: "a", Shape: []int{2, 2}, Data: []float32{1}}},
		"duplicate":      {{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}},
		"reserved name":  {{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}},
		"negative dim":   {{Name: "a", Shape: []int{-1}, Data: nil}},
	}
	for name, ts := range cases {
		if err := Write(p, ts, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("failed write left a file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatal("failed write left temp files")
	}
}

func TestOpenErrors(t *testing.T) {
	good := build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32bytes(1, 2))
	tests := []struct {
		name string
		file []byte
		kind error
		want string // substring of the message
	}{
		{"empty", nil, ErrTruncated, "shorter than"},
		{"truncated length", good[:5], ErrTruncated, "shorter than"},
		{"header past eof", good[:20], ErrTruncated, "header length"},
		{"huge header length", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, good[8:]...), ErrTruncated, "past end of file"},
		{"data past eof", good[:len(good)-1], ErrTruncated, "past end of file"},
		{"not json", build(`[1,2]`, nil), ErrFormat, "not a JSON object"},
		{"bad json", build(`{"a":`, nil), ErrFormat, "invalid JSON"},
		{"trailing", build(`{}{}`, nil), ErrFormat, "trailing"},
		{"unknown dtype", build(`{"a":{"dtype":"F13","shape":[1],"data_offsets":[0,4]}}`, f32bytes(1)), ErrDType, `tensor "a": unknown dtype "F13"`},
		{"shape mismatch", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32bytes(1, 2)), ErrShape, "needs 12 bytes"},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32bytes(1, 2)), ErrShape, "negative"},
		{"overflow", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, f32bytes(1, 2)), ErrShape, "overflows"},
		{"reversed offsets", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, f32bytes(1, 2)), ErrFormat, "invalid data_offsets"},
		{"one offset", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0]}}`, nil), ErrFormat, "2"},
		{"missing field", build(`{"a":{"dtype":"F32","shape":[0]}}`, nil), ErrFormat, "needs dtype"},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32bytes(1, 2)), ErrFormat, "overlaps"},
		{"duplicate", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32bytes(1, 2)), ErrFormat, "duplicate"},
		{"bad metadata", build(`{"__metadata__":{"k":1}}`, nil), ErrFormat, "__metadata__"},
		{"sub-byte", build(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}`, []byte{0}), ErrShape, "whole bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenBytes("t.safetensors", tc.file)
			formattest.WantError(t, f, err, tc.kind, "safetensors: t.safetensors: ", tc.want)
		})
	}
}

func TestFloat32Errors(t *testing.T) {
	file := build(`{"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"n":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}}`,
		append(f32bytes(0), f32bytes(1, float32(math.NaN()), 3)...))
	f, err := OpenBytes("t.safetensors", file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32("absent"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `tensor "absent"`) {
		t.Fatalf("absent: %v", err)
	}
	if _, ok := f.Shape("absent"); ok {
		t.Fatal("shape of absent")
	}
	if _, err := f.Float32("i"); !errors.Is(err, ErrDType) || !strings.Contains(err.Error(), "I32 is not a floating-point") {
		t.Fatalf("int: %v", err)
	}
	d, err := f.Float32("n")
	if err != nil {
		t.Fatal(err)
	}
	var nf *format.NonFiniteError
	if err := format.CheckFinite("n", d); !errors.As(err, &nf) || nf.Index != 1 {
		t.Fatalf("CheckFinite: %v", err)
	}
	// A reader that shrinks after Open reports a truncated read with offset.
	short := &shrinking{data: file, n: len(file) - 2}
	g, err := OpenReaderAt("s.safetensors", short, int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Float32("n"); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "at byte") {
		t.Fatalf("short read: %v", err)
	}
}

type shrinking struct {
	data []byte
	n    int
}

func (s *shrinking) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(s.data[:s.n]).ReadAt(p, off)
}

func TestConvertDTypes(t *testing.T) {
	le := binary.LittleEndian
	var data []byte
	data = le.AppendUint16(data, 0x3c00) // f16 1
	data = le.AppendUint16(data, 0x0001) // f16 smallest subnormal
	data = le.AppendUint16(data, 0xfc00) // f16 -inf
	data = le.AppendUint16(data, 0x7e00) // f16 nan
	data = le.AppendUint16(data, 0x3f80) // bf16 1
	data = le.AppendUint16(data, 0xc040) // bf16 -3
	data = le.AppendUint64(data, math.Float64bits(0.1))
	data = append(data, 0x38, 0xff, 0x3c, 0x7c) // e4m3 1, nan ; e5m2 1, inf
	hdr := `{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},` +
		`"d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]},"e":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[20,22]},` +
		`"m":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[22,24]}}`
	f, err := OpenBytes("c", build(hdr, data))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"h": {1, float32(math.Ldexp(1, -24)), float32(math.Inf(-1)), float32(math.NaN())},
		"b": {1, -3},
		"d": {float32(0.1)},
		"e": {1, float32(math.NaN())},
		"m": {1, float32(math.Inf(1))},
	}
	for n, w := range want {
		got, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if got[i] != w[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(w[i]))) {
				t.Errorf("%s[%d] = %v want %v", n, i, got[i], w[i])
			}
		}
	}
}

// TestFloat16Exhaustive checks every binary16 value against arithmetic.
func TestFloat16Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		e := (h >> 10) & 0x1f
		m := h & 0x3ff
		var want float64
		switch {
		case e == 0x1f && m == 0:
			want = math.Inf(int(sign))
		case e == 0x1f:
			want = math.NaN()
		case e == 0:
			want = sign * math.Ldexp(float64(m), -24)
		default:
			want = sign * math.Ldexp(1+float64(m)/1024, e-15)
		}
		got := Float16ToFloat32(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: got %v want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("%#04x: got %v want %v", h, got, want)
		}
	}
}

func TestShards(t *testing.T) {
	dir := t.TempDir()
	a := []Tensor{{Name: "x", Shape: []int{2}, Data: []float32{1, 2}}}
	b := []Tensor{{Name: "y", Shape: []int{1}, Data: []float32{3}}, {Name: "z", Shape: []int{1}, Data: []float32{4}}}
	if err := Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), a, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), b, nil); err != nil {
		t.Fatal(err)
	}
	writeIndex := func(m string) {
		os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"metadata":{"total_size":16},"weight_map":{`+m+`}}`), 0o644)
	}
	writeIndex(`"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors","z":"model-00002-of-00002.safetensors"`)
	s, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !reflect.DeepEqual(got, []string{"x", "y", "z"}) {
		t.Fatalf("names %v", got)
	}
	if d, err := s.Float32("z"); err != nil || d[0] != 4 {
		t.Fatalf("z: %v %v", d, err)
	}
	if _, err := s.Float32("w"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent: %v", err)
	}
	if s.Metadata()["format"] != "pt" {
		t.Fatal("metadata")
	}
	s.Close()

	writeIndex(`"x":"model-00001-of-00002.safetensors","y":"model-00003-of-00003.safetensors"`)
	if _, err := OpenModel(dir); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "model-00003-of-00003.safetensors") {
		t.Fatalf("missing shard: %v", err)
	}
	writeIndex(`"x":"model-00001-of-00002.safetensors","q":"model-00002-of-00002.safetensors"`)
	if _, err := OpenModel(dir); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `tensor "q"`) {
		t.Fatalf("missing tensor: %v", err)
	}
	writeIndex(`"x":"../evil.safetensors"`)
	if _, err := OpenModel(dir); !errors.Is(err, ErrFormat) {
		t.Fatalf("escaping shard: %v", err)
	}
	if _, err := OpenModel(t.TempDir()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty dir: %v", err)
	}
}

func ExampleWrite() {
	dir, _ := os.MkdirTemp("", "st")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "w.safetensors")
	_ = Write(p, []Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}}, nil)
	f, _ := Open(p)
	defer f.Close()
	d, _ := f.Float32("w")
	fmt.Println(f.Names(), d)
	// Output: [w] [1 2]
}
