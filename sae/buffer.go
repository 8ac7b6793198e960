package sae

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/glia-dev/glia/format/safetensors"
)

// Buffer mixes activation vectors from consecutive forward passes so that a
// training batch does not hold one window's correlated positions. It holds
// at most Cap vectors of Dim values; Take draws a uniform random batch and
// removes it (SAELens's mixing buffer does the same with a shuffle).
type Buffer struct {
	Dim, Cap int
	data     []float32
	n        int
	src      *rand.PCG
	rng      *rand.Rand
}

// NewBuffer makes a buffer of capacity vectors of dim values.
func NewBuffer(dim, capacity int, seed uint64) (*Buffer, error) {
	if dim <= 0 || capacity <= 0 {
		return nil, fmt.Errorf("sae: buffer of %d vectors of %d values", capacity, dim)
	}
	src := rand.NewPCG(seed, 0xb0f)
	return &Buffer{Dim: dim, Cap: capacity, data: make([]float32, capacity*dim), src: src, rng: rand.New(src)}, nil
}

// Len is the number of vectors held.
func (b *Buffer) Len() int { return b.n }

// Add appends rows vectors from x and returns how many fit; the caller
// takes batches until the rest fit.
func (b *Buffer) Add(x []float32) int {
	rows := min(len(x)/b.Dim, b.Cap-b.n)
	copy(b.data[b.n*b.Dim:], x[:rows*b.Dim])
	b.n += rows
	return rows
}

// Take moves a random batch of rows vectors into dst (rows·Dim values).
// It panics when fewer are held: the caller checks Len.
func (b *Buffer) Take(dst []float32, rows int) {
	if rows > b.n {
		panic(fmt.Sprintf("sae: Take %d of %d buffered vectors", rows, b.n))
	}
	d := b.Dim
	for r := range rows {
		i := b.rng.IntN(b.n)
		copy(dst[r*d:(r+1)*d], b.data[i*d:(i+1)*d])
		b.n--
		copy(b.data[i*d:(i+1)*d], b.data[b.n*d:(b.n+1)*d])
	}
}

// Save writes the held vectors, the shuffling generator's state and
// pending (vectors the caller has read but not yet added) to path, so that
// a resumed run draws the same batches as an uninterrupted one. The file
// is at most (Cap + len(pending)/Dim) × Dim float32s.
func (b *Buffer) Save(path string, pending []float32) error {
	st, err := b.src.MarshalBinary()
	if err != nil {
		return err
	}
	meta := map[string]string{"rng": base64.StdEncoding.EncodeToString(st), "capacity": strconv.Itoa(b.Cap)}
	ts := []safetensors.Tensor{
		{Name: "buffer", Shape: []int{b.n, b.Dim}, Data: b.data[:b.n*b.Dim]},
		{Name: "pending", Shape: []int{len(pending) / b.Dim, b.Dim}, Data: pending},
	}
	return writeAtomic(path, func(p string) error { return safetensors.Write(p, ts, meta) })
}

// Load restores a buffer saved by Save into b, which must have the same
// Dim and Cap (a different capacity would draw different batches), and
// returns the pending vectors.
func (b *Buffer) Load(path string) ([]float32, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return b.load(f, path)
}

func (b *Buffer) load(f *safetensors.File, path string) ([]float32, error) {
	meta := f.Metadata()
	if c, err := strconv.Atoi(meta["capacity"]); err != nil || c != b.Cap {
		return nil, &Error{Path: path, Key: "capacity", Msg: fmt.Sprintf("the shuffle buffer was saved with capacity %q, this run has %d (give the same --buffer)", meta["capacity"], b.Cap)}
	}
	st, err := base64.StdEncoding.DecodeString(meta["rng"])
	if err == nil {
		err = b.src.UnmarshalBinary(st)
	}
	if err != nil {
		return nil, &Error{Path: path, Key: "rng", Msg: "unreadable generator state", Err: err}
	}
	read := func(name string) ([]float32, error) {
		shape, ok := f.Shape(name)
		if !ok || len(shape) != 2 || shape[1] != b.Dim {
			return nil, &Error{Path: path, Tensor: name, Msg: fmt.Sprintf("want shape [rows, %d], got %v", b.Dim, shape)}
		}
		return readTensor(f, path, name, shape...)
	}
	held, err := read("buffer")
	if err != nil {
		return nil, err
	}
	if len(held) > len(b.data) {
		return nil, &Error{Path: path, Tensor: "buffer", Msg: fmt.Sprintf("%d vectors in a buffer of %d", len(held)/b.Dim, b.Cap)}
	}
	b.n = copy(b.data, held) / b.Dim
	return read("pending")
}
