package atlas

import (
	"fmt"
	"strconv"
	"strings"
)

// Slice is one of Count deterministic slices of a corpus. Every slice
// reads (and tokenizes) the whole corpus and forms the batches one build
// would form (Batch windows of a corpus path, from its window 0); batch k
// of corpus path p belongs to slice (p + k) mod Count. A slice runs the
// model on its own batches only, so its windows and their activations are
// those of one build, and slices of one corpus merge into the atlas of one
// build over it, in any order. The zero Slice is the whole corpus.
type Slice struct {
	Index, Count int
	Batch        int // windows per batch; set by Build, stored as meta slice_batch
}

func (s Slice) withBatch(b int) Slice {
	if s.Whole() {
		return Slice{}
	}
	s.Batch = b
	return s
}

// Whole reports whether s is the whole corpus.
func (s Slice) Whole() bool { return s.Count <= 1 }

// owns reports whether the slice holds the batch that starts at window w
// of corpus path p, in batches of batch windows.
func (s Slice) owns(p int, w int64, batch int) bool {
	return s.Whole() || (int64(p)+w/int64(batch))%int64(s.Count) == int64(s.Index)
}

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
