package compare

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkLinearCKAStream: one op is one chunk of 1000 stimuli with
// 768 × 768 features added to the accumulator (the GPT-2-small
// width); ns/op is the time per 1k stimuli. The accumulator's memory is
// fixed (three 768² matrices); B/op is the per-chunk garbage.
func BenchmarkLinearCKAStream(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randMat(r, 1000, 768), randMat(r, 1000, 768)
	s := &CKAStream{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Add(x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := s.Debiased(); err != nil {
		b.Fatal(err)
	}
}
