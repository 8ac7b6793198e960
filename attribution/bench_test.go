package attribution

import "testing"

// BenchmarkIGGPT2Small: integrated gradients at hook_embed, 50
// Gauss–Legendre steps in chunks of 16, a 128-token prompt, GPT-2-small
// shape with random weights; reports the relative completeness delta.
//
//	GOEXPERIMENT=simd go test ./attribution -run '^$' -bench IGGPT2Small -benchtime 1x
func BenchmarkIGGPT2Small(b *testing.B) {
	m := gpt2Small(b, 1024)
	ids := prompt(m, 128)
	base := corrupt(ids, 127, m.Dims().Vocab)
	var r *AttrResult
	var err error
	for b.Loop() {
		if r, err = IG(m, ids, "hook_embed", Target{Kind: LogProb, Pos: -1, Token: 11}, IGOptions{Baseline: base}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(r.Relative, "relative-delta")
	b.ReportMetric(float64(r.Forwards), "passes")
}

// BenchmarkDLAGPT2Small: direct logit attribution at the last of 128
// tokens (12·12 heads, 12·3072 neurons), GPT-2-small shape.
func BenchmarkDLAGPT2Small(b *testing.B) {
	m := gpt2Small(b, 1024)
	ids := prompt(m, 128)
	var r *DLAResult
	var err error
	for b.Loop() {
		if r, err = DLA(m, ids, Target{Kind: LogitDiff, Pos: -1, Token: 11, Other: 12}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(r.Completeness, "completeness")
}
