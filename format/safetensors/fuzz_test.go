package safetensors

import (
	"bytes"
	"math"
	"testing"

	"github.com/glia-dev/glia/format/internal/formattest"
)

// maxFuzzElems caps what one fuzz iteration may allocate for a tensor.
const maxFuzzElems = 1 << 20

func fuzzSeeds() [][]byte {
	var buf bytes.Buffer
	WriteTo(&buf, []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, -2, 3.5, 0}}, {Name: "b", Shape: []int{1}, Data: []float32{9}}}, map[string]string{"format": "pt"})
	valid := buf.Bytes()
	mixed := build(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},`+
		`"i":{"dtype":"I64","shape":[1],"data_offsets":[6,14]},"d":{"dtype":"F64","shape":[],"data_offsets":[14,22]},`+
		`"q":{"dtype":"F4","shape":[2],"data_offsets":[22,23]}}`, []byte{0, 0x3c, 1, 0x80, 0x80, 0x3f, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x12})
	return [][]byte{
		valid,
		valid[:len(valid)-3], // truncated data
		valid[:20],           // truncated header
		valid[:4],            // truncated length
		mixed,
		build(`{}`, nil),
		build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
	}
}

func FuzzSafetensors(f *testing.F) {
	open := func(data []byte) (*File, error) { return OpenBytes("fuzz.safetensors", data) }
	formattest.Fuzz(f, fuzzSeeds(), open, func(t *testing.T, data []byte, file *File) {
		var tensors []Tensor
		for _, name := range file.Names() {
			shape, ok := file.Shape(name)
			if !ok {
				t.Fatalf("%q listed but has no shape", name)
			}
			dt, _ := file.DType(name)
			in, _ := file.Info(name)
			if in.End < in.Begin || in.End > int64(len(data)) {
				t.Fatalf("%q: range [%d,%d) outside file", name, in.Begin, in.End)
			}
			numel := 1
			for _, d := range shape {
				numel *= d
			}
			if numel > maxFuzzElems {
				continue
			}
			switch {
			case dt.IsFloat():
				v, err := file.Float32(name)
				if err != nil {
					t.Fatalf("%q: %v", name, err)
				}
				if len(v) != numel {
					t.Fatalf("%q: %d values for shape %v", name, len(v), shape)
				}
				tensors = append(tensors, Tensor{Name: name, Shape: shape, Data: v})
			case dt.IsInt():
				v, err := file.Int64s(name)
				if err == nil && len(v) != numel {
					t.Fatalf("%q: %d values for shape %v", name, len(v), shape)
				}
			default:
				if _, err := file.Float32(name); err == nil {
					t.Fatalf("%q: Float32 of %s succeeded", name, dt)
				}
			}
		}
		if _, err := file.Float32("\x00absent"); err == nil {
			t.Fatal("absent tensor read")
		}
		// Round trip: what was read, written as F32, reads back bit for bit.
		var out bytes.Buffer
		if _, err := WriteTo(&out, tensors, file.Metadata()); err != nil {
			t.Fatalf("write: %v", err)
		}
		back, err := OpenBytes("back", out.Bytes())
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if len(back.Names()) != len(tensors) {
			t.Fatalf("round trip has %d tensors, want %d", len(back.Names()), len(tensors))
		}
		for _, tt := range tensors {
			v, err := back.Float32(tt.Name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range v {
				if math.Float32bits(v[i]) != math.Float32bits(tt.Data[i]) {
					t.Fatalf("%q[%d]: %v != %v", tt.Name, i, v[i], tt.Data[i])
				}
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates the committed seed corpus when
// GLIA_WRITE_FUZZ_SEEDS=1 is set; otherwise it is skipped.
func TestWriteFuzzSeeds(t *testing.T) { formattest.WriteFuzzSeeds(t, "FuzzSafetensors", fuzzSeeds()) }
