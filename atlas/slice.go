package atlas

import (
	"fmt"
	"strconv"
	"strings"
)

// Slice is one of Count deterministic slices of a corpus: the windows
// whose number, counted over all corpus paths in order, is Index modulo
// Count. Slices of one corpus merge into the atlas of one build over it,
// whatever the order of the merge. Every slice reads (and tokenizes) the
// whole corpus and runs the model on its windows only; windows are dealt
// round-robin so that slices are balanced however long the documents.
// The zero Slice is the whole corpus.
type Slice struct {
	Index, Count int
}

// Whole reports whether s is the whole corpus.
func (s Slice) Whole() bool { return s.Count <= 1 }

// owns reports whether the slice holds the corpus window numbered g.
func (s Slice) owns(g int64) bool { return s.Whole() || g%int64(s.Count) == int64(s.Index) }

// String is "I/N", or "" for the whole corpus.
func (s Slice) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// ParseSlice reads "I/N" (0 <= I < N); "" is the whole corpus.
func ParseSlice(v string) (Slice, error) {
	if v == "" {
		return Slice{}, nil
	}
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n || n > 1<<20 {
		return Slice{}, fmt.Errorf("slice %q: write it as I/N with 0 <= I < N (e.g. 0/4 .. 3/4)", v)
	}
	if n == 1 {
		return Slice{}, nil
	}
	return Slice{Index: i, Count: n}, nil
}
