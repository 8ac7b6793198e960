// Package llama2c reads Andrej Karpathy's llama2.c checkpoints (the legacy
// headerless format and the "ak42" version 1 format) and presents them as
// Hugging Face LlamaForCausalLM tensors.
package llama2c

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"unsafe"

	"github.com/glia-dev/glia/format"
)

// Magic is the first uint32 of a versioned checkpoint ("ak42").
const Magic = 0x616b3432

const (
	legacyHeaderSize = 7 * 4
	v1HeaderSize     = 256
)

// Sanity bounds on header values.
const (
	maxDim    = 1 << 20
	maxHidden = 1 << 22
	maxLayers = 1 << 12
	maxVocab  = 1 << 24
	maxSeqLen = 1 << 24
)

// Params is the checkpoint header.
type Params struct {
	Dim, HiddenDim, NLayers, NHeads, NKVHeads, VocabSize, SeqLen int
	// SharedClassifier is true when the output projection is the token
	// embedding (no separate wcls in the file).
	SharedClassifier bool
	// Version is 0 for the legacy format, 1 for "ak42" version 1.
	Version int
}

// HeadDim is Dim / NHeads.
func (p Params) HeadDim() int { return p.Dim / p.NHeads }

// KVDim is Dim * NKVHeads / NHeads.
func (p Params) KVDim() int { return p.Dim * p.NKVHeads / p.NHeads }

type tensor struct {
	off   int64 // absolute byte offset
	shape []int
	heads int // >0: undo the interleaved-rotary row permutation with this many heads
}

// Checkpoint is an open llama2.c checkpoint; it implements format.TensorSource
// with Hugging Face Llama names. It is safe for concurrent reads.
type Checkpoint struct {
	path    string
	r       io.ReaderAt
	closer  io.Closer
	size    int64
	params  Params
	tensors map[string]tensor
	names   []string
}

var _ format.TensorSource = (*Checkpoint)(nil)

// Open opens and validates a checkpoint file.
func Open(path string) (*Checkpoint, error) {
	c, fh, err := format.OpenFile("llama2c", path, ErrFormat, OpenReaderAt)
	if err != nil {
		return nil, err
	}
	c.closer = fh
	return c, nil
}

// OpenBytes reads a checkpoint held in memory (e.g. embedded with go:embed).
func OpenBytes(name string, data []byte) (*Checkpoint, error) {
	return OpenReaderAt(name, bytes.NewReader(data), int64(len(data)))
}

// OpenReaderAt reads a checkpoint of the given size through r; name is used
// in errors. Close does not close r.
func OpenReaderAt(name string, r io.ReaderAt, size int64) (*Checkpoint, error) {
	c := &Checkpoint{path: name, r: r, size: size}
	if size < legacyHeaderSize {
		return nil, newErr(name, "", 0, ErrTruncated, nil, "file is %d bytes, shorter than the %d-byte header", size, legacyHeaderSize)
	}
	var hdr [legacyHeaderSize + 8]byte
	n, _ := r.ReadAt(hdr[:min(int64(len(hdr)), size)], 0)
	if n < legacyHeaderSize {
		return nil, newErr(name, "", 0, ErrTruncated, io.ErrUnexpectedEOF, "cannot read header")
	}
	le := binary.LittleEndian
	var vals [7]int32
	var headerSize int64
	p := Params{}
	if le.Uint32(hdr[0:]) == Magic {
		if n < 8 {
			return nil, newErr(name, "", 4, ErrTruncated, nil, "file ends inside the version field")
		}
		p.Version = int(int32(le.Uint32(hdr[4:])))
		if p.Version != 1 {
			what := ""
			if p.Version == 2 {
				what = " (int8 Q8_0 export)"
			}
			return nil, newErr(name, "", 4, ErrUnsupported, nil, "unsupported version %d%s; only the legacy format and version 1 are read", p.Version, what)
		}
		if size < v1HeaderSize {
			return nil, newErr(name, "", 0, ErrTruncated, nil, "file is %d bytes, shorter than the %d-byte version 1 header", size, v1HeaderSize)
		}
		for i := range vals {
			vals[i] = int32(le.Uint32(hdr[8+4*i:]))
		}
		var flag [1]byte
		if _, err := r.ReadAt(flag[:], 36); err != nil {
			return nil, newErr(name, "", 36, ErrTruncated, err, "cannot read shared_classifier flag")
		}
		switch flag[0] {
		case 0:
		case 1:
			p.SharedClassifier = true
		default:
			return nil, newErr(name, "", 36, ErrFormat, nil, "shared_classifier flag is %d, want 0 or 1", flag[0])
		}
		if vals[5] <= 0 {
			return nil, newErr(name, "", 28, ErrFormat, nil, "vocab_size %d must be positive in version 1", vals[5])
		}
		headerSize = v1HeaderSize
	} else {
		for i := range vals {
			vals[i] = int32(le.Uint32(hdr[4*i:]))
		}
		p.SharedClassifier = vals[5] > 0
		if vals[5] < 0 && vals[5] != math.MinInt32 {
			vals[5] = -vals[5]
		}
		headerSize = legacyHeaderSize
	}
	p.Dim, p.HiddenDim, p.NLayers, p.NHeads, p.NKVHeads, p.VocabSize, p.SeqLen =
		int(vals[0]), int(vals[1]), int(vals[2]), int(vals[3]), int(vals[4]), int(vals[5]), int(vals[6])
	if err := checkParams(name, p); err != nil {
		return nil, err
	}
	c.params = p
	if err := c.layout(headerSize); err != nil {
		return nil, err
	}
	return c, nil
}

func checkParams(name string, p Params) error {
	base := int64(0) // byte offset of dim
	if p.Version == 1 {
		base = 8
	}
	fields := []struct {
		name string
		v    int
		max  int
	}{
		{"dim", p.Dim, maxDim}, {"hidden_dim", p.HiddenDim, maxHidden}, {"n_layers", p.NLayers, maxLayers},
		{"n_heads", p.NHeads, maxDim}, {"n_kv_heads", p.NKVHeads, maxDim}, {"vocab_size", p.VocabSize, maxVocab},
		{"seq_len", p.SeqLen, maxSeqLen},
	}
	for i, f := range fields {
		if f.v <= 0 || f.v > f.max {
			return newErr(name, "", base+int64(4*i), ErrFormat, nil, "header %s = %d out of range [1,%d]", f.name, f.v, f.max)
		}
	}
	if p.Dim%p.NHeads != 0 {
		return newErr(name, "", base, ErrFormat, nil, "dim %d is not a multiple of n_heads %d", p.Dim, p.NHeads)
	}
	if p.NKVHeads > p.NHeads || p.NHeads%p.NKVHeads != 0 {
		return newErr(name, "", base+16, ErrFormat, nil, "n_heads %d is not a multiple of n_kv_heads %d", p.NHeads, p.NKVHeads)
	}
	if p.HeadDim()%2 != 0 {
		return newErr(name, "", base, ErrFormat, nil, "head size %d is odd; rotary embeddings need pairs", p.HeadDim())
	}
	return nil
}

// checked multiplication; the header bounds keep every product well inside int64,
// but the helper makes that explicit.
func mul(a ...int) (int64, bool) {
	r := int64(1)
	for _, x := range a {
		if x != 0 && r > math.MaxInt64/8/int64(x) {
			return 0, false
		}
		r *= int64(x)
	}
	return r, true
}

func (c *Checkpoint) layout(headerSize int64) error {
	p := c.params
	L, dim, hid, kv, vocab := p.NLayers, p.Dim, p.HiddenDim, p.KVDim(), p.VocabSize
	type group struct {
		name   string // HF name; %d-free for globals, layer template otherwise
		layers bool
		shape  []int
		heads  int
		skip   bool // present in the file but not exposed
	}
	layer := func(suffix string, shape []int, heads int) group {
		return group{name: suffix, layers: true, shape: shape, heads: heads}
	}
	rmsAtt := layer("input_layernorm.weight", []int{dim}, 0)
	rmsFFN := layer("post_attention_layernorm.weight", []int{dim}, 0)
	wq := layer("self_attn.q_proj.weight", []int{dim, dim}, p.NHeads)
	wk := layer("self_attn.k_proj.weight", []int{kv, dim}, p.NKVHeads)
	wv := layer("self_attn.v_proj.weight", []int{kv, dim}, 0)
	wo := layer("self_attn.o_proj.weight", []int{dim, dim}, 0)
	w1 := layer("mlp.gate_proj.weight", []int{hid, dim}, 0)
	w2 := layer("mlp.down_proj.weight", []int{dim, hid}, 0)
	w3 := layer("mlp.up_proj.weight", []int{hid, dim}, 0)
	emb := group{name: "model.embed_tokens.weight", shape: []int{vocab, dim}}
	norm := group{name: "model.norm.weight", shape: []int{dim}}
	freq := group{name: "freq_cis", shape: []int{p.SeqLen, p.HeadDim()}, skip: true}
	wcls := group{name: "lm_head.weight", shape: []int{vocab, dim}}
	var order []group
	if p.Version == 0 {
		order = []group{emb, rmsAtt, wq, wk, wv, wo, rmsFFN, w1, w2, w3, norm, freq}
	} else {
		order = []group{rmsAtt, rmsFFN, norm, emb, wq, wk, wv, wo, w1, w2, w3}
	}
	if !p.SharedClassifier {
		order = append(order, wcls)
	}
	// Sizes first, so that a header the file does not back is refused
	// before a map entry is made for each of its layers' tensors.
	starts := make([]int64, len(order))
	off := headerSize
	for i, g := range order {
		per, ok := mul(g.shape...)
		if !ok {
			return newErr(c.path, g.name, off, ErrFormat, nil, "shape %v overflows", g.shape)
		}
		count := 1
		if g.layers {
			count = L
		}
		bytes, ok := mul(int(per), count, 4)
		if !ok || off > math.MaxInt64/2-bytes {
			return newErr(c.path, g.name, off, ErrFormat, nil, "checkpoint size overflows")
		}
		starts[i] = off
		off += bytes
	}
	if off != c.size {
		return newErr(c.path, "", -1, ErrTruncated, nil,
			"header (dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d shared=%v, version %d) expects %d bytes, file has %d",
			p.Dim, p.HiddenDim, p.NLayers, p.NHeads, p.NKVHeads, p.VocabSize, p.SeqLen, p.SharedClassifier, p.Version, off, c.size)
	}
	c.tensors = map[string]tensor{}
	for i, g := range order {
		if g.skip {
			continue
		}
		if !g.layers {
			c.tensors[g.name] = tensor{off: starts[i], shape: g.shape, heads: g.heads}
			continue
		}
		per, _ := mul(g.shape...)
		for l := range L {
			name := "model.layers." + strconv.Itoa(l) + "." + g.name
			c.tensors[name] = tensor{off: starts[i] + int64(l)*per*4, shape: g.shape, heads: g.heads}
		}
	}
	c.names = make([]string, 0, len(c.tensors))
	for n := range c.tensors {
		c.names = append(c.names, n)
	}
	sort.Strings(c.names)
	return nil
}

// Params returns the header.
func (c *Checkpoint) Params() Params { return c.params }

// Path is the name the checkpoint was opened with.
func (c *Checkpoint) Path() string { return c.path }

// Config returns a Hugging Face LlamaConfig-style map (config.json keys).
func (c *Checkpoint) Config() map[string]any {
	p := c.params
	return map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             p.Dim,
		"intermediate_size":       p.HiddenDim,
		"num_hidden_layers":       p.NLayers,
		"num_attention_heads":     p.NHeads,
		"num_key_value_heads":     p.NKVHeads,
		"head_dim":                p.HeadDim(),
		"vocab_size":              p.VocabSize,
		"max_position_embeddings": p.SeqLen,
		"rms_norm_eps":            1e-5,
		"rope_theta":              10000.0,
		"tie_word_embeddings":     p.SharedClassifier,
		"hidden_act":              "silu",
		"bos_token_id":            1,
		"eos_token_id":            2,
		"torch_dtype":             "float32",
	}
}

// Names lists the Hugging Face tensor names, sorted.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Shape returns a tensor's row-major shape.
func (c *Checkpoint) Shape(name string) ([]int, bool) {
	t, ok := c.tensors[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(t.shape), true
}

// Float32 reads one tensor. q_proj and k_proj rows are returned in Hugging
// Face's rotate_half layout (llama2.c stores them for interleaved pairs).
func (c *Checkpoint) Float32(name string) ([]float32, error) {
	t, ok := c.tensors[name]
	if !ok {
		return nil, newErr(c.path, name, -1, ErrNotFound, nil, "no such tensor")
	}
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	out := make([]float32, n)
	if err := readF32(c.r, out, t.off); err != nil {
		return nil, newErr(c.path, name, t.off, ErrTruncated, err, "short read of %d bytes", 4*n)
	}
	if t.heads > 0 {
		UnpermuteRows(out, t.shape[0], t.shape[1], t.heads)
	}
	return out, nil
}

// Close releases the file opened by Open.
func (c *Checkpoint) Close() error {
	if c.closer != nil {
		cl := c.closer
		c.closer = nil
		return cl.Close()
	}
	return nil
}

// readF32 fills dst with little-endian float32s read at off.
func readF32(r io.ReaderAt, dst []float32, off int64) error {
	if len(dst) == 0 {
		return nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst))
	n, err := r.ReadAt(b, off)
	if n != len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if !format.NativeLittle {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return nil
}

// UnpermuteRows converts a [rows, cols] projection stored for interleaved
// rotary pairs to Hugging Face's rotate_half layout, in place; see
// format.UnpermuteRows.
func UnpermuteRows(w []float32, rows, cols, heads int) { format.UnpermuteRows(w, rows, cols, heads) }
