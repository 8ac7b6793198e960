package gguf

import (
	"bytes"
	"math"
	"testing"

	"github.com/glia-dev/glia/format/internal/formattest"
)

const maxFuzzTensorBytes = 1 << 22

func fuzzSeeds() [][]byte {
	valid := encodeGGUF(3, llamaKV("llama"), []testTensor{
		f32tensor("token_embd.weight", []uint64{4, 3}, seq(12, 0)...),
		f32tensor("blk.0.attn_q.weight", []uint64{4, 4}, seq(16, 1)...),
		f32tensor("blk.0.attn_k.weight", []uint64{4, 2}, seq(8, 2)...),
		{name: "q8", typ: Q8_0, dims: []uint64{32}, data: make([]byte, 34), offset: -1},
		{name: "q4", typ: Q4_1, dims: []uint64{32}, data: bytes.Repeat([]byte{0x3c}, 20), offset: -1},
	})
	meta := encodeGGUF(2, allTypesKV(), []testTensor{{name: "h", typ: F16, dims: []uint64{2}, data: []byte{0, 0x3c, 0, 0x7c}, offset: -1}})
	vocab := encodeGGUF(3, []pair{{"tokenizer.ggml.model", "llama"}, {"tokenizer.ggml.tokens", []string{"<unk>", "<s>"}},
		{"tokenizer.ggml.scores", []float32{0, 0}}, {"tokenizer.ggml.bos_token_id", uint32(1)}, {"general.alignment", uint32(64)}},
		[]testTensor{{name: "k", typ: Q6_K, dims: []uint64{256}, data: make([]byte, 210), offset: -1}})
	emptyQ := encodeGGUF(3, llamaKV("llama"), []testTensor{
		f32tensor("token_embd.weight", []uint64{4, 3}, seq(12, 0)...),
		f32tensor("blk.0.attn_q.weight", []uint64{4, 0}),
	})
	return [][]byte{valid, valid[:len(valid)-7], valid[:40], meta, meta[:100], vocab, vocab[:len(vocab)/2], emptyQ}
}

// reencode writes a parsed file back out with the test encoder.
func reencode(t *testing.T, f *File) []byte {
	var kvs []pair
	for _, k := range f.Keys() {
		v, _ := f.Value(k)
		kvs = append(kvs, pair{k, v})
	}
	var ts []testTensor
	for _, n := range f.Names() {
		ti, _ := f.Tensor(n)
		raw, err := f.ReadRaw(n)
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		ts = append(ts, testTensor{name: n, typ: ti.Type, dims: ti.Dims, data: raw, offset: ti.Offset - f.DataOffset})
	}
	return encodeGGUF(f.Version, kvs, ts)
}

func FuzzGGUF(f *testing.F) {
	open := func(data []byte) (*File, error) { return OpenBytes("fuzz.gguf", data) }
	formattest.Fuzz(f, fuzzSeeds(), open, func(t *testing.T, data []byte, g *File) {
		for _, k := range g.Keys() {
			g.String(k)
			g.Uint(k)
			g.Int(k)
			g.Float(k)
			g.Bool(k)
			g.Strings(k)
			g.Float32s(k)
			g.Int32s(k)
		}
		g.Vocab()
		var total int64
		for _, n := range g.Names() {
			ti, _ := g.Tensor(n)
			if ti.Offset < g.DataOffset || ti.Offset+ti.Size > int64(len(data)) {
				t.Fatalf("%q: range [%d,%d) outside data", n, ti.Offset, ti.Offset+ti.Size)
			}
			total += ti.Size
		}
		if total > maxFuzzTensorBytes {
			return // keep each iteration's allocation bounded
		}
		for _, n := range g.Names() {
			ti, _ := g.Tensor(n)
			v, err := g.Float32(n)
			if !ti.Type.Dequantizable() {
				if err == nil {
					t.Fatalf("%q: %s dequantised", n, ti.Type)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%q: %v", n, err)
			}
			numel := 1
			for _, d := range ti.Shape {
				numel *= d
			}
			if len(v) != numel {
				t.Fatalf("%q: %d values for shape %v", n, len(v), ti.Shape)
			}
		}
		if src, _, err := g.Llama(); err == nil {
			for _, n := range src.Names() {
				if _, err := src.Float32(n); err != nil && g.tensors[mustSource(src, n)].Type.Dequantizable() {
					t.Fatalf("view %q: %v", n, err)
				}
			}
		}
		// Round trip: parse → encode → parse → encode is stable, and tensors
		// read back bit for bit.
		once := reencode(t, g)
		h, err := OpenBytes("again.gguf", once)
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v", err)
		}
		if twice := reencode(t, h); !bytes.Equal(once, twice) {
			t.Fatal("re-encoding is not stable")
		}
		for _, n := range g.Names() {
			a, errA := g.Float32(n)
			b, errB := h.Float32(n)
			if (errA == nil) != (errB == nil) || len(a) != len(b) {
				t.Fatalf("%q: round trip differs", n)
			}
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("%q[%d]: %v vs %v", n, i, a[i], b[i])
				}
			}
		}
	})
}

func mustSource(src any, name string) string {
	s, _ := src.(*LlamaView).Source(name)
	return s
}

// TestWriteFuzzSeeds regenerates the committed seed corpus when
// GLIA_WRITE_FUZZ_SEEDS=1 is set; otherwise it is skipped.
func TestWriteFuzzSeeds(t *testing.T) { formattest.WriteFuzzSeeds(t, "FuzzGGUF", fuzzSeeds()) }
