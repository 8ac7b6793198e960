package tokenizer

import (
	"strings"
	"testing"
)

// benchChunks groups the Moby-Dick excerpt's lines into pieces of at least
// 4096 bytes, as tools/tokref/gen.mjs --bench does for HF.
func benchChunks(b testing.TB) ([]string, int) {
	text := string(readGz(b, "moby-dick-excerpt.txt.gz"))
	var chunks []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		cur.WriteString(line)
		if cur.Len() >= 4096 {
			chunks = append(chunks, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		chunks = append(chunks, cur.String())
	}
	return chunks, len(text)
}

// BenchmarkEncode measures Encode on ~400 KB of English per tokenizer, in
// ~4 KB pieces. Like HF's (whose timing gen.mjs --bench takes after a
// warm-up), the BPE word cache is warm after the first pass.
func BenchmarkEncode(b *testing.B) {
	chunks, n := benchChunks(b)
	for _, name := range []string{"gpt2", "llama3", "llama2", "qwen3", "gemma3"} {
		b.Run(name, func(b *testing.B) {
			tk := loadTok(b, name)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, c := range chunks {
					tk.Encode(c, false)
				}
			}
		})
	}
}

// BenchmarkEncodeCold is BenchmarkEncode with the BPE word cache emptied
// before every pass.
func BenchmarkEncodeCold(b *testing.B) {
	chunks, n := benchChunks(b)
	for _, name := range []string{"gpt2", "llama3", "llama2", "qwen3", "gemma3"} {
		b.Run(name, func(b *testing.B) {
			tk := loadTok(b, name)
			bm := tk.model.(*bpeModel)
			b.SetBytes(int64(n))
			b.ResetTimer()
			for range b.N {
				bm.mu.Lock()
				clear(bm.cache)
				bm.mu.Unlock()
				for _, c := range chunks {
					tk.Encode(c, false)
				}
			}
		})
	}
}
