package sae

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
)

// TestBufferSaveLoad: a buffer saved mid-run and loaded into a fresh one
// draws the same batches as the original from then on, and gives back the
// pending vectors.
func TestBufferSaveLoad(t *testing.T) {
	const dim, capacity = 3, 10
	p := newPlanted(dim, 5, 2, 1)
	a, err := NewBuffer(dim, capacity, 7)
	if err != nil {
		t.Fatal(err)
	}
	a.Add(p.batch(capacity))
	a.Take(make([]float32, 4*dim), 4) // the generator has moved
	pending := p.batch(2)
	path := filepath.Join(t.TempDir(), "buffer.safetensors")
	if err := a.Save(path, pending); err != nil {
		t.Fatal(err)
	}
	b, _ := NewBuffer(dim, capacity, 99) // another seed: the state must come from the file
	gotPending, err := b.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotPending, pending) || b.Len() != a.Len() {
		t.Fatalf("pending %v (want %v), %d held (want %d)", gotPending, pending, b.Len(), a.Len())
	}
	for range 3 {
		more := p.batch(2)
		a.Add(more)
		b.Add(more)
		x, y := make([]float32, 3*dim), make([]float32, 3*dim)
		a.Take(x, 3)
		b.Take(y, 3)
		if !slices.Equal(x, y) {
			t.Fatalf("batches differ after loading: %v, %v", x, y)
		}
	}
	empty, _ := NewBuffer(dim, capacity, 7)
	if err := empty.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Load(path); err != nil || len(got) != 0 || b.Len() != 0 {
		t.Fatalf("an empty buffer: %d pending, %d held, %v", len(got), b.Len(), err)
	}
	c, _ := NewBuffer(dim, capacity+1, 7)
	if _, err := c.Load(path); err == nil || !strings.Contains(err.Error(), "capacity") {
		t.Errorf("loading into another capacity: %v, want an error naming the capacity", err)
	}
}

// FuzzBuffer: any buffer file either fails with an error or restores at
// most Cap vectors and whole pending vectors.
func FuzzBuffer(f *testing.F) {
	b, _ := NewBuffer(2, 4, 1)
	b.Add([]float32{1, 2, 3, 4, 5, 6})
	path := filepath.Join(f.TempDir(), "b.safetensors")
	if err := b.Save(path, []float32{7, 8}); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := safetensors.OpenBytes("b", data)
		if err != nil {
			return
		}
		b, _ := NewBuffer(2, 4, 1)
		pending, err := b.load(file, "b")
		if err != nil {
			return
		}
		if b.Len() > b.Cap || len(pending)%b.Dim != 0 {
			t.Fatalf("%d held in %d, %d pending values", b.Len(), b.Cap, len(pending))
		}
	})
}
