package gguf

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format"
	"github.com/glia-dev/glia/format/internal/formattest"
	"github.com/glia-dev/glia/format/llama2c"
	"github.com/glia-dev/glia/format/safetensors"
)

const (
	storiesGGUF = "../../assets/models/stories260K/stories260K.gguf"
	storiesBin  = "../../assets/models/stories260K/stories260K.bin"
)

// TestStoriesParity: the GGUF and llama2.c files hold the same weights, so
// after both readers' HF views (q/k un-permutation included) every tensor
// must be bit-identical.
func TestStoriesParity(t *testing.T) {
	g, err := Open(storiesGGUF)
	if err != nil {
		t.Fatal(err)
	}
	src, cfg, err := g.Llama()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c, err := llama2c.Open(storiesBin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := append(c.Names(), "lm_head.weight")
	slices.Sort(want)
	if got := src.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("names:\n got %v\nwant %v", got, want)
	}
	maxDiff := 0.0
	for _, n := range c.Names() {
		a, err := src.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		sa, _ := src.Shape(n)
		sb, _ := c.Shape(n)
		if !reflect.DeepEqual(sa, sb) || len(a) != len(b) {
			t.Fatalf("%s: shape %v vs %v", n, sa, sb)
		}
		for i := range a {
			maxDiff = max(maxDiff, math.Abs(float64(a[i]-b[i])))
		}
	}
	head, _ := src.Float32("lm_head.weight")
	emb, _ := c.Float32("model.embed_tokens.weight")
	for i := range head {
		maxDiff = max(maxDiff, math.Abs(float64(head[i]-emb[i])))
	}
	t.Logf("max |gguf - llama2c| over %d tensors = %g", len(want), maxDiff)
	if maxDiff != 0 {
		t.Fatalf("weights differ by up to %g", maxDiff)
	}
	// Config agrees with the llama2.c header where the files agree.
	cc := c.Config()
	for _, k := range []string{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "rms_norm_eps", "rope_theta", "model_type", "bos_token_id", "eos_token_id"} {
		if !reflect.DeepEqual(cfg[k], cc[k]) {
			t.Errorf("config %s: gguf %v (%T), llama2c %v (%T)", k, cfg[k], cfg[k], cc[k], cc[k])
		}
	}
	if cfg["tie_word_embeddings"] != false || cfg["max_position_embeddings"] != 2048 {
		t.Errorf("config %v", cfg)
	}
}

func TestStoriesVocab(t *testing.T) {
	g, err := Open(storiesGGUF)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	v, err := g.Vocab()
	if err != nil {
		t.Fatal(err)
	}
	if v.Model != "llama" || len(v.Tokens) != 512 || len(v.Scores) != 512 || len(v.Types) != 512 ||
		v.BOS != 1 || v.EOS != 2 || v.UNK != 0 || v.PAD != -1 || !v.AddBOS || v.AddEOS || !v.AddSpacePrefix {
		t.Fatalf("vocab %+v", v)
	}
	if v.Tokens[1] != "<s>" || v.Tokens[13] != "<0x0A>" {
		t.Fatalf("tokens %q", v.Tokens[:16])
	}
}

func allTypesKV() []pair {
	return []pair{
		{"general.architecture", "test"},
		{"u8", uint8(200)}, {"i8", int8(-5)}, {"u16", uint16(60000)}, {"i16", int16(-300)},
		{"u32", uint32(4000000000)}, {"i32", int32(-7)}, {"f32", float32(1e-5)}, {"b", true},
		{"s", "héllo"}, {"u64", uint64(math.MaxUint64)}, {"i64", int64(-1 << 40)}, {"f64", 0.125},
		{"strs", []string{"a", "", "c"}}, {"f32s", []float32{1, 2.5}}, {"i32s", []int32{-1, 2}},
		{"u8s", []uint8{1, 2, 3}}, {"bools", []bool{true, false}}, {"f64s", []float64{3}},
		{"i64s", []int64{1 << 40}}, {"nested", []any{[]string{"x"}, []any{[]int16{7}}, []uint8{}}},
	}
}

func TestMetadata(t *testing.T) {
	for _, ver := range []uint32{2, 3} {
		file := encodeGGUF(ver, allTypesKV(), []testTensor{f32tensor("t", []uint64{2}, 1, 2)})
		f, err := OpenBytes("m.gguf", file)
		if err != nil {
			t.Fatal(err)
		}
		if f.Version != ver {
			t.Fatal("version")
		}
		for _, p := range allTypesKV() {
			v, ok := f.Value(p.k)
			if !ok || !reflect.DeepEqual(v, p.v) {
				t.Errorf("%s = %#v want %#v", p.k, v, p.v)
			}
		}
		if s, ok, err := f.String("s"); s != "héllo" || !ok || err != nil {
			t.Error("String")
		}
		if _, ok, err := f.String("absent"); ok || err != nil {
			t.Error("absent String")
		}
		if _, _, err := f.String("u8"); !errors.Is(err, ErrType) || !strings.Contains(err.Error(), `key "u8": value is uint8, not string`) {
			t.Errorf("mismatch: %v", err)
		}
		if u, ok, _ := f.Uint("u32"); !ok || u != 4000000000 {
			t.Error("Uint")
		}
		if _, _, err := f.Uint("i8"); !errors.Is(err, ErrType) {
			t.Error("Uint of negative")
		}
		if i, ok, _ := f.Int("i16"); !ok || i != -300 {
			t.Error("Int")
		}
		if _, _, err := f.Int("u64"); !errors.Is(err, ErrType) {
			t.Error("Int overflow")
		}
		if x, ok, _ := f.Float("f32"); !ok || x != 1e-5 {
			t.Errorf("Float f32 = %v", x)
		}
		if _, _, err := f.Float("s"); !errors.Is(err, ErrType) {
			t.Error("Float of string")
		}
		if b, ok, _ := f.Bool("b"); !ok || !b {
			t.Error("Bool")
		}
		if s, ok, _ := f.Strings("strs"); !ok || len(s) != 3 {
			t.Error("Strings")
		}
		if _, _, err := f.Strings("f32s"); !errors.Is(err, ErrType) {
			t.Error("Strings of floats")
		}
		if x, ok, _ := f.Float32s("f64s"); !ok || x[0] != 3 {
			t.Error("Float32s")
		}
		if x, ok, _ := f.Int32s("u8s"); !ok || !reflect.DeepEqual(x, []int32{1, 2, 3}) {
			t.Error("Int32s of u8")
		}
		if _, _, err := f.Int32s("i64s"); !errors.Is(err, ErrType) {
			t.Error("Int32s overflow")
		}
		if len(f.Keys()) != len(allTypesKV()) || !slices.IsSorted(f.Keys()) {
			t.Error("Keys")
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ok := encodeGGUF(3, []pair{{"a", "b"}}, []testTensor{f32tensor("t", []uint64{2}, 1, 2)})
	le := binary.LittleEndian
	patch := func(at int, v uint64, n int) []byte {
		b := slices.Clone(ok)
		if n == 4 {
			le.PutUint32(b[at:], uint32(v))
		} else {
			le.PutUint64(b[at:], v)
		}
		return b
	}
	tests := []struct {
		name string
		file []byte
		kind error
		want string
	}{
		{"empty", nil, ErrTruncated, "magic needs 4 bytes"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), ErrFormat, "bad magic"},
		{"version 1", patch(4, 1, 4), ErrUnsupported, "version 1"},
		{"big endian", patch(4, 0x03000000, 4), ErrUnsupported, "big-endian"},
		{"truncated counts", ok[:12], ErrTruncated, "tensor count"},
		{"tensor count huge", patch(8, 1<<40, 8), ErrTruncated, "tensor count"},
		{"kv count huge", patch(16, 1<<62, 8), ErrTruncated, "metadata count"},
		{"key length past eof", patch(24, 1<<50, 8), ErrTruncated, "past end of file"},
		{"truncated data", ok[:len(ok)-1], ErrTruncated, `tensor "t": data range`},
		{"unknown value type", encodeGGUF(3, nil, nil)[:0], ErrTruncated, ""},
	}
	// Hand-made variants.
	type variant struct {
		name string
		kvs  []pair
		ts   []testTensor
		kind error
		want string
	}
	variants := []variant{
		{"duplicate key", []pair{{"a", "x"}, {"a", "y"}}, nil, ErrFormat, `key "a": duplicate`},
		{"duplicate tensor", nil, []testTensor{f32tensor("t", []uint64{1}, 1), f32tensor("t", []uint64{1}, 1)}, ErrFormat, "duplicate tensor"},
		{"unknown tensor type", nil, []testTensor{{name: "t", typ: 99, dims: []uint64{1}, data: make([]byte, 4), offset: -1}}, ErrUnsupported, `tensor "t": unknown tensor type 99`},
		{"too many dims", nil, []testTensor{f32tensor("t", []uint64{1, 1, 1, 1, 1}, 1)}, ErrFormat, "n_dims 5"},
		{"misaligned", nil, []testTensor{f32tensor("a", []uint64{1}, 1), {name: "t", typ: F32, dims: []uint64{1}, data: f32data(1), offset: 36}}, ErrFormat, "not a multiple of alignment"},
		{"overlap", nil, []testTensor{f32tensor("a", []uint64{16}, make([]float32, 16)...), {name: "t", typ: F32, dims: []uint64{8}, data: f32data(make([]float32, 8)...), offset: 32}}, ErrFormat, "overlaps"},
		{"block size", nil, []testTensor{{name: "q", typ: Q8_0, dims: []uint64{16}, data: make([]byte, 34), offset: -1}}, ErrFormat, "block size 32"},
		{"shape overflow", nil, []testTensor{{name: "t", typ: F32, dims: []uint64{1 << 32, 1 << 32}, data: nil, offset: -1}}, ErrFormat, "overflows"},
		{"data past eof", nil, []testTensor{{name: "t", typ: F32, dims: []uint64{1 << 20}, data: f32data(1), offset: -1}}, ErrTruncated, `tensor "t": data range`},
		{"alignment not power of two", []pair{{"general.alignment", uint32(24)}}, nil, ErrFormat, "power-of-two"},
		{"alignment wrong type", []pair{{"general.alignment", uint64(32)}}, nil, ErrFormat, "power-of-two"},
		{"nested too deep", []pair{{"deep", []any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]uint8{1}}}}}}}}}}}}, nil, ErrFormat, "nested deeper"},
	}
	for _, v := range variants {
		tests = append(tests, struct {
			name string
			file []byte
			kind error
			want string
		}{v.name, encodeGGUF(3, v.kvs, v.ts), v.kind, v.want})
	}
	// Unknown value type: patch the type field of the only KV.
	uv := encodeGGUF(3, []pair{{"k", uint8(1)}}, nil)
	le.PutUint32(uv[24+8+1:], 77)
	tests = append(tests, struct {
		name string
		file []byte
		kind error
		want string
	}{"unknown value type", uv, ErrFormat, `key "k": unknown value type 77`})
	// Array count past EOF.
	ac := encodeGGUF(3, []pair{{"k", []uint32{1, 2}}}, nil)
	le.PutUint64(ac[24+8+1+4+4:], 1<<60)
	tests = append(tests, struct {
		name string
		file []byte
		kind error
		want string
	}{"array count huge", ac, ErrTruncated, "past end of file"})
	for _, tc := range tests {
		if tc.want == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenBytes("t.gguf", tc.file)
			formattest.WantError(t, f, err, tc.kind, "gguf: t.gguf: ", tc.want)
		})
	}
}

func TestFloat16MatchesSafetensors(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		a, b := f16(uint16(h)), safetensors.Float16ToFloat32(uint16(h))
		if math.Float32bits(a) != math.Float32bits(b) {
			t.Fatalf("%#04x: %v vs %v", h, a, b)
		}
	}
}

func TestDequantize(t *testing.T) {
	le := binary.LittleEndian
	const dBits, mBits = 0x3800, 0xbc00 // f16 0.5 and -1
	d, m := float32(0.5), float32(-1)
	// Q8_0 / Q8_1: qs = -16..15
	q8 := le.AppendUint16(nil, dBits)
	q81 := le.AppendUint16(le.AppendUint16(nil, dBits), 0x1234)
	var want8 []float32
	for j := range 32 {
		q8 = append(q8, byte(int8(j-16)))
		q81 = append(q81, byte(int8(j-16)))
		want8 = append(want8, float32(j-16)*d)
	}
	// Q4_0 / Q4_1: byte j = lo j%16, hi (15-j)%16
	q40 := le.AppendUint16(nil, dBits)
	q41 := le.AppendUint16(le.AppendUint16(nil, dBits), mBits)
	var want40, want41 [32]float32
	for j := range 16 {
		lo, hi := j%16, (15-j)%16
		q40 = append(q40, byte(lo|hi<<4))
		q41 = append(q41, byte(lo|hi<<4))
		want40[j], want40[j+16] = float32(lo-8)*d, float32(hi-8)*d
		want41[j], want41[j+16] = float32(lo)*d+m, float32(hi)*d+m
	}
	// Q5_0 / Q5_1: same nibbles plus a fifth bit from qh for odd elements.
	var qh uint32
	var want50, want51 [32]float32
	for i := range 32 {
		nib := want41Nibble(i)
		hb := 0
		if i%3 == 0 {
			qh |= 1 << i
			hb = 16
		}
		want50[i] = float32(nib+hb-16) * d
		want51[i] = float32(nib+hb)*d + m
	}
	q50 := le.AppendUint32(le.AppendUint16(nil, dBits), qh)
	q51 := le.AppendUint32(le.AppendUint16(le.AppendUint16(nil, dBits), mBits), qh)
	for j := range 16 {
		b := byte(want41Nibble(j) | want41Nibble(j+16)<<4)
		q50 = append(q50, b)
		q51 = append(q51, b)
	}
	f16s := le.AppendUint16(le.AppendUint16(le.AppendUint16(nil, 0x3c00), 0x0001), 0x7c00)
	bf16s := le.AppendUint16(le.AppendUint16(nil, 0x3f80), 0xc000)
	f64s := le.AppendUint64(nil, math.Float64bits(-0.25))
	cases := []struct {
		typ  GGMLType
		ne   uint64
		data []byte
		want []float32
	}{
		{Q8_0, 32, q8, want8},
		{Q8_1, 32, q81, want8},
		{Q4_0, 32, q40, want40[:]},
		{Q4_1, 32, q41, want41[:]},
		{Q5_0, 32, q50, want50[:]},
		{Q5_1, 32, q51, want51[:]},
		{F16, 3, f16s, []float32{1, float32(math.Ldexp(1, -24)), float32(math.Inf(1))}},
		{BF16, 2, bf16s, []float32{1, -2}},
		{F64, 1, f64s, []float32{-0.25}},
	}
	var ts []testTensor
	for _, c := range cases {
		// Two rows, to check block order across rows.
		data := append(slices.Clone(c.data), c.data...)
		ts = append(ts, testTensor{name: c.typ.String(), typ: c.typ, dims: []uint64{c.ne, 2}, data: data, offset: -1})
	}
	ts = append(ts, testTensor{name: "k", typ: Q4_K, dims: []uint64{256}, data: make([]byte, 144), offset: -1})
	f, err := OpenBytes("q.gguf", encodeGGUF(3, nil, ts))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		got, err := f.Float32(c.typ.String())
		if err != nil {
			t.Fatal(err)
		}
		shape, _ := f.Shape(c.typ.String())
		if !reflect.DeepEqual(shape, []int{2, int(c.ne)}) {
			t.Fatalf("%s shape %v", c.typ, shape)
		}
		want := append(slices.Clone(c.want), c.want...)
		maxDiff := 0.0
		for i := range want {
			if math.IsInf(float64(want[i]), 0) {
				if got[i] != want[i] {
					t.Fatalf("%s[%d] = %v want %v", c.typ, i, got[i], want[i])
				}
				continue
			}
			maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
		}
		if maxDiff != 0 {
			t.Errorf("%s: max diff %g (got %v)", c.typ, maxDiff, got[:8])
		}
	}
	if _, err := f.Float32("k"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `tensor "k": tensor type Q4_K`) {
		t.Fatalf("Q4_K: %v", err)
	}
	if _, err := f.Float32("absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent: %v", err)
	}
}

// want41Nibble is the low-4-bit value of element i in the Q4/Q5 test block.
func want41Nibble(i int) int {
	if i < 16 {
		return i % 16
	}
	return (15 - (i - 16)) % 16
}

func TestNaNWeights(t *testing.T) {
	f, err := OpenBytes("n.gguf", encodeGGUF(3, nil, []testTensor{f32tensor("w", []uint64{3}, 1, float32(math.Inf(-1)), float32(math.NaN()))}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	var nf *format.NonFiniteError
	if err := format.CheckFinite("w", d); !errors.As(err, &nf) || nf.Index != 1 || nf.Count != 2 {
		t.Fatalf("CheckFinite: %v", err)
	}
}

func llamaKV(arch string) []pair {
	return []pair{
		{"general.architecture", arch},
		{arch + ".embedding_length", uint32(4)}, {arch + ".feed_forward_length", uint32(6)},
		{arch + ".block_count", uint32(1)}, {arch + ".attention.head_count", uint32(2)},
		{arch + ".attention.head_count_kv", uint32(1)}, {arch + ".attention.layer_norm_rms_epsilon", float32(1e-6)},
		{arch + ".rope.freq_base", float32(500000)}, {arch + ".context_length", uint32(128)},
		{arch + ".attention.key_length", uint32(2)},
		{"tokenizer.ggml.bos_token_id", uint32(1)}, {"tokenizer.ggml.eos_token_id", uint32(2)},
	}
}

func seq(n int, base float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = base + float32(i)
	}
	return out
}

func TestLlamaView(t *testing.T) {
	ts := []testTensor{
		f32tensor("token_embd.weight", []uint64{4, 5}, seq(20, 0)...),
		f32tensor("blk.0.attn_q.weight", []uint64{4, 4}, seq(16, 100)...),
		f32tensor("blk.0.attn_k.weight", []uint64{4, 2}, seq(8, 200)...),
		f32tensor("blk.0.attn_v.weight", []uint64{4, 2}, seq(8, 300)...),
		f32tensor("blk.0.attn_output.weight", []uint64{4, 4}, seq(16, 400)...),
		f32tensor("blk.0.attn_norm.weight", []uint64{4}, seq(4, 500)...),
		f32tensor("blk.0.ffn_norm.weight", []uint64{4}, seq(4, 600)...),
		f32tensor("blk.0.ffn_gate.weight", []uint64{4, 6}, seq(24, 700)...),
		f32tensor("blk.0.ffn_up.weight", []uint64{4, 6}, seq(24, 800)...),
		f32tensor("blk.0.ffn_down.weight", []uint64{6, 4}, seq(24, 900)...),
		f32tensor("output_norm.weight", []uint64{4}, seq(4, 1000)...),
		f32tensor("rope_freqs.weight", []uint64{1}, 1),
	}
	for _, arch := range []string{"llama", "mistral"} {
		f, err := OpenBytes("l.gguf", encodeGGUF(3, llamaKV(arch), ts))
		if err != nil {
			t.Fatal(err)
		}
		src, cfg, err := f.Llama()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"model_type": "llama", "hidden_size": 4, "intermediate_size": 6, "num_hidden_layers": 1,
			"num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6, "rope_theta": 500000.0,
			"vocab_size": 5, "max_position_embeddings": 128, "tie_word_embeddings": true, "head_dim": 2,
			"bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
		}
		for k, v := range want {
			if !reflect.DeepEqual(cfg[k], v) {
				t.Errorf("%s: config %s = %v (%T), want %v", arch, k, cfg[k], cfg[k], v)
			}
		}
		names := src.Names()
		wantNames := []string{"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.mlp.down_proj.weight",
			"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.post_attention_layernorm.weight",
			"model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.o_proj.weight", "model.layers.0.self_attn.q_proj.weight",
			"model.layers.0.self_attn.v_proj.weight", "model.norm.weight", "rope_freqs.weight"}
		if !reflect.DeepEqual(names, wantNames) {
			t.Fatalf("names %v", names)
		}
		// q: 2 heads of 2 rows, 4 cols: head_dim 2 → rows (0,1) stay; k: 1 head of 4 rows → rows 0,2,1,3.
		q, _ := src.Float32("model.layers.0.self_attn.q_proj.weight")
		if !reflect.DeepEqual(q, seq(16, 100)) {
			t.Errorf("q = %v", q)
		}
		k, _ := src.Float32("model.layers.0.self_attn.k_proj.weight")
		wantK := slices.Concat(seq(4, 200), seq(4, 204)) // rows 0,1 of 2 rows x 4: shape [2,4]
		if !reflect.DeepEqual(k, wantK) {
			t.Errorf("k = %v", k)
		}
		down, _ := src.Shape("model.layers.0.mlp.down_proj.weight")
		if !reflect.DeepEqual(down, []int{4, 6}) {
			t.Errorf("down shape %v", down)
		}
		src.Close()
	}
	// A 4-row head checks the permutation itself.
	kv := llamaKV("llama")
	kv[4] = pair{"llama.attention.head_count", uint32(1)}
	kv[5] = pair{"llama.attention.head_count_kv", uint32(1)}
	f, err := OpenBytes("p.gguf", encodeGGUF(3, kv, []testTensor{
		f32tensor("token_embd.weight", []uint64{4, 5}, seq(20, 0)...),
		f32tensor("blk.0.attn_q.weight", []uint64{1, 4}, 0, 1, 2, 3),
	}))
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := f.Llama()
	if err != nil {
		t.Fatal(err)
	}
	q, _ := src.Float32("model.layers.0.self_attn.q_proj.weight")
	if !reflect.DeepEqual(q, []float32{0, 2, 1, 3}) {
		t.Fatalf("permuted q = %v, want [0 2 1 3]", q)
	}
	// A q projection with no rows cannot be split into heads.
	z, _ := OpenBytes("z.gguf", encodeGGUF(3, llamaKV("llama"), []testTensor{
		f32tensor("token_embd.weight", []uint64{4, 5}, seq(20, 0)...),
		f32tensor("blk.0.attn_q.weight", []uint64{4, 0}),
	}))
	if _, _, err := z.Llama(); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "heads") {
		t.Fatalf("empty q: %v", err)
	}
	// Wrong architecture, missing key.
	g, _ := OpenBytes("g.gguf", encodeGGUF(3, []pair{{"general.architecture", "gpt2"}}, nil))
	if _, _, err := g.Llama(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("gpt2: %v", err)
	}
	h, _ := OpenBytes("h.gguf", encodeGGUF(3, []pair{{"general.architecture", "llama"}}, nil))
	if _, _, err := h.Llama(); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "llama.embedding_length") {
		t.Fatalf("missing key: %v", err)
	}
}

func TestVocabErrors(t *testing.T) {
	f, _ := OpenBytes("v.gguf", encodeGGUF(3, []pair{{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.tokens", []string{"a", "b"}}, {"tokenizer.ggml.scores", []float32{1}}}, nil))
	if _, err := f.Vocab(); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "1 scores for 2 tokens") {
		t.Fatalf("scores: %v", err)
	}
	g, _ := OpenBytes("v.gguf", encodeGGUF(3, []pair{{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.tokens", []string{"a", "b"}}, {"tokenizer.ggml.merges", []string{"a b"}}, {"tokenizer.ggml.eos_token_id", uint32(1)}}, nil))
	v, err := g.Vocab()
	if err != nil || v.AddBOS || v.AddSpacePrefix || v.EOS != 1 || v.BOS != -1 || len(v.Merges) != 1 {
		t.Fatalf("gpt2 vocab %+v %v", v, err)
	}
	h, _ := OpenBytes("v.gguf", encodeGGUF(3, nil, nil))
	if _, err := h.Vocab(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no vocab: %v", err)
	}
}
