package sae

import (
	"fmt"
	"math/rand/v2"
)

// Buffer mixes activation vectors from consecutive forward passes so that a
// training batch does not hold one window's correlated positions. It holds
// at most Cap vectors of Dim values; Take draws a uniform random batch and
// removes it (SAELens's mixing buffer does the same with a shuffle).
type Buffer struct {
	Dim, Cap int
	data     []float32
	n        int
	rng      *rand.Rand
}

// NewBuffer makes a buffer of capacity vectors of dim values.
func NewBuffer(dim, capacity int, seed uint64) (*Buffer, error) {
	if dim <= 0 || capacity <= 0 {
		return nil, fmt.Errorf("sae: buffer of %d vectors of %d values", capacity, dim)
	}
	return &Buffer{Dim: dim, Cap: capacity, data: make([]float32, capacity*dim), rng: rand.New(rand.NewPCG(seed, 0xb0f))}, nil
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
