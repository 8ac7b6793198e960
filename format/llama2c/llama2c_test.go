package llama2c

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format"
	"github.com/glia-dev/glia/format/internal/formattest"
)

const storiesBin = "../../assets/models/stories260K/stories260K.bin"

// synth writes a checkpoint in the export.py layout. Every stored value is
// gid*1000 + layer*200 + index, so tests can tell where a value came from.
// It returns the file and, per HF name, the values as stored (pre-permutation).
func synth(p Params) ([]byte, map[string][]float32) {
	var b bytes.Buffer
	le := binary.LittleEndian
	vocab := int32(p.VocabSize)
	hdr := []int32{int32(p.Dim), int32(p.HiddenDim), int32(p.NLayers), int32(p.NHeads), int32(p.NKVHeads), vocab, int32(p.SeqLen)}
	if p.Version == 1 {
		binary.Write(&b, le, uint32(Magic))
		binary.Write(&b, le, int32(1))
		binary.Write(&b, le, hdr)
		shared := byte(0)
		if p.SharedClassifier {
			shared = 1
		}
		b.WriteByte(shared)
		b.Write(make([]byte, 256-b.Len()))
	} else {
		if !p.SharedClassifier {
			hdr[5] = -hdr[5]
		}
		binary.Write(&b, le, hdr)
	}
	stored := map[string][]float32{}
	gid := 0
	emit := func(name string, layers bool, n int) {
		gid++
		count := 1
		if layers {
			count = p.NLayers
		}
		for l := range count {
			vals := make([]float32, n)
			for i := range vals {
				vals[i] = float32(gid*1000 + l*200 + i)
			}
			binary.Write(&b, le, vals)
			key := name
			if layers {
				key = fmt.Sprintf("model.layers.%d.%s", l, name)
			}
			stored[key] = vals
		}
	}
	d, h, kv, v := p.Dim, p.HiddenDim, p.KVDim(), p.VocabSize
	if p.Version == 0 {
		emit("model.embed_tokens.weight", false, v*d)
		emit("input_layernorm.weight", true, d)
		emit("self_attn.q_proj.weight", true, d*d)
		emit("self_attn.k_proj.weight", true, kv*d)
		emit("self_attn.v_proj.weight", true, kv*d)
		emit("self_attn.o_proj.weight", true, d*d)
		emit("post_attention_layernorm.weight", true, d)
		emit("mlp.gate_proj.weight", true, h*d)
		emit("mlp.down_proj.weight", true, d*h)
		emit("mlp.up_proj.weight", true, h*d)
		emit("model.norm.weight", false, d)
		emit("freq_cis", false, p.SeqLen*p.HeadDim())
		delete(stored, "freq_cis")
	} else {
		emit("input_layernorm.weight", true, d)
		emit("post_attention_layernorm.weight", true, d)
		emit("model.norm.weight", false, d)
		emit("model.embed_tokens.weight", false, v*d)
		emit("self_attn.q_proj.weight", true, d*d)
		emit("self_attn.k_proj.weight", true, kv*d)
		emit("self_attn.v_proj.weight", true, kv*d)
		emit("self_attn.o_proj.weight", true, d*d)
		emit("mlp.gate_proj.weight", true, h*d)
		emit("mlp.down_proj.weight", true, d*h)
		emit("mlp.up_proj.weight", true, h*d)
	}
	if !p.SharedClassifier {
		emit("lm_head.weight", false, v*d)
	}
	return b.Bytes(), stored
}

var smallParams = Params{Dim: 8, HiddenDim: 12, NLayers: 2, NHeads: 2, NKVHeads: 1, VocabSize: 10, SeqLen: 4}

func TestSynthetic(t *testing.T) {
	for _, version := range []int{0, 1} {
		for _, shared := range []bool{true, false} {
			p := smallParams
			p.Version, p.SharedClassifier = version, shared
			t.Run(fmt.Sprintf("v%d/shared=%v", version, shared), func(t *testing.T) {
				file, stored := synth(p)
				c, err := OpenBytes("s.bin", file)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if c.Params() != p {
					t.Fatalf("params %+v want %+v", c.Params(), p)
				}
				if len(c.Names()) != len(stored) {
					t.Fatalf("names %v", c.Names())
				}
				for _, n := range c.Names() {
					want, ok := stored[n]
					if !ok {
						t.Fatalf("unexpected tensor %s", n)
					}
					got, err := c.Float32(n)
					if err != nil {
						t.Fatal(err)
					}
					shape, _ := c.Shape(n)
					heads := 0
					switch {
					case strings.HasSuffix(n, "q_proj.weight"):
						heads = p.NHeads
					case strings.HasSuffix(n, "k_proj.weight"):
						heads = p.NKVHeads
					}
					if heads > 0 {
						// Independent restatement of the permutation.
						rows, cols := shape[0], shape[1]
						hd := rows / heads
						perm := make([]float32, len(want))
						for r := range rows {
							h, i := r/hd, r%hd
							src := h*hd + 2*i
							if i >= hd/2 {
								src = h*hd + 2*(i-hd/2) + 1
							}
							copy(perm[r*cols:(r+1)*cols], want[src*cols:(src+1)*cols])
						}
						want = perm
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: got %v want %v", n, got[:min(8, len(got))], want[:min(8, len(want))])
					}
				}
				_, hasHead := c.Shape("lm_head.weight")
				if hasHead == shared {
					t.Fatalf("lm_head present=%v with shared=%v", hasHead, shared)
				}
				if c.Config()["tie_word_embeddings"] != shared {
					t.Fatal("tie_word_embeddings")
				}
			})
		}
	}
}

func TestStories260K(t *testing.T) {
	c, err := Open(storiesBin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := Params{Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if c.Params() != want {
		t.Fatalf("params %+v", c.Params())
	}
	cfg := c.Config()
	if cfg["hidden_size"] != 64 || cfg["num_key_value_heads"] != 4 || cfg["max_position_embeddings"] != 512 || cfg["tie_word_embeddings"] != true {
		t.Fatalf("config %v", cfg)
	}
	total := 0
	for _, n := range c.Names() {
		d, err := c.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := format.CheckFinite(n, d); err != nil {
			t.Fatal(err)
		}
		total += len(d)
	}
	if total != 260032 {
		t.Fatalf("parameter count %d, want 260032", total)
	}
	if len(c.Names()) != 2+9*5 {
		t.Fatalf("%d tensors", len(c.Names()))
	}
	k, _ := c.Shape("model.layers.0.self_attn.k_proj.weight")
	if !reflect.DeepEqual(k, []int{32, 64}) {
		t.Fatalf("k shape %v", k)
	}
}

func TestErrors(t *testing.T) {
	good, _ := synth(smallParams)
	withHeader := func(vals ...int32) []byte {
		b := bytes.Clone(good)
		for i, v := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		return b
	}
	v1 := smallParams
	v1.Version = 1
	v1file, _ := synth(v1)
	v2 := bytes.Clone(v1file)
	binary.LittleEndian.PutUint32(v2[4:], 2)
	badFlag := bytes.Clone(v1file)
	badFlag[36] = 7
	tests := []struct {
		name string
		file []byte
		kind error
		want string
	}{
		{"empty", nil, ErrTruncated, "shorter than"},
		{"truncated header", good[:20], ErrTruncated, "shorter than"},
		{"truncated weights", good[:len(good)-4], ErrTruncated, fmt.Sprintf("expects %d bytes, file has %d", len(good), len(good)-4)},
		{"extra bytes", append(bytes.Clone(good), 0, 0, 0, 0), ErrTruncated, "expects"},
		{"zero dim", withHeader(0), ErrFormat, "dim = 0"},
		{"negative layers", withHeader(8, 12, -1), ErrFormat, "n_layers = -1"},
		{"huge vocab", withHeader(8, 12, 2, 2, 1, math.MaxInt32), ErrFormat, "vocab_size"},
		{"min vocab", withHeader(8, 12, 2, 2, 1, math.MinInt32), ErrFormat, "vocab_size"},
		{"dim not multiple", withHeader(9, 12, 2, 2, 1), ErrFormat, "not a multiple of n_heads"},
		{"kv not divisor", withHeader(12, 12, 2, 3, 2), ErrFormat, "n_kv_heads"},
		{"odd head", withHeader(6, 12, 2, 2, 1), ErrFormat, "odd"},
		{"huge everything", withHeader(1<<20, 1<<22, 1<<12, 1, 1, 1<<24, 1<<24), ErrTruncated, "expects"},
		{"version 2", v2, ErrUnsupported, "unsupported version 2"},
		{"v1 truncated header", v1file[:100], ErrTruncated, "version 1 header"},
		{"v1 bad flag", badFlag, ErrFormat, "shared_classifier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenBytes("t.bin", tc.file)
			formattest.WantError(t, c, err, tc.kind, "llama2c: t.bin: ", tc.want)
		})
	}
	c, err := OpenBytes("t.bin", good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Float32("model.layers.9.mlp.up_proj.weight"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `tensor "model.layers.9.mlp.up_proj.weight"`) {
		t.Fatalf("absent: %v", err)
	}
}

func TestOpenMissingFile(t *testing.T) {
	if _, err := Open("/nonexistent/x.bin"); err == nil || !strings.HasPrefix(err.Error(), "llama2c: /nonexistent/x.bin") {
		t.Fatalf("got %v", err)
	}
}

func TestNaNWeights(t *testing.T) {
	file, _ := synth(smallParams)
	// Poison the first weight of the token embedding (right after the header).
	binary.LittleEndian.PutUint32(file[28+4*3:], math.Float32bits(float32(math.NaN())))
	c, err := OpenBytes("nan.bin", file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Float32("model.embed_tokens.weight")
	if err != nil {
		t.Fatal(err)
	}
	var nf *format.NonFiniteError
	if err := format.CheckFinite("model.embed_tokens.weight", d); !errors.As(err, &nf) || nf.Index != 3 {
		t.Fatalf("CheckFinite: %v", err)
	}
}

func TestOpenBytesMatchesOpen(t *testing.T) {
	raw, err := os.ReadFile(storiesBin)
	if err != nil {
		t.Fatal(err)
	}
	a, err := OpenBytes("stories260K.bin", raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(storiesBin)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, n := range b.Names() {
		x, _ := a.Float32(n)
		y, _ := b.Float32(n)
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("%s differs", n)
		}
	}
}
