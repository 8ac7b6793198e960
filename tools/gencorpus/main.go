// Command gencorpus samples the embedded default corpus from the embedded
// model: stories generated from BOS with a fixed seed, so the atlas's main
// job runs on text that suits the model, and anyone can regenerate it:
//
//	GOEXPERIMENT=simd go run ./tools/gencorpus -n 256 -out assets/corpus/stories.txt
//
// A story ends where the model emits BOS or EOS (how llama2.c marks story
// boundaries) or at -max tokens; a story cut by -max is trimmed after its
// last full sentence. Stories are separated by "\n<|endoftext|>\n"; gzip the
// output into assets/corpus/sampled.txt.gz.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/glia-dev/glia/engine"
)

func main() {
	n := flag.Int("n", 256, "stories")
	batch := flag.Int("batch", 64, "stories sampled together")
	maxTok := flag.Int("max", 256, "longest story in tokens")
	temp := flag.Float64("temperature", 0.8, "sampling temperature")
	seed := flag.Uint64("seed", 260, "random seed")
	out := flag.String("out", "assets/corpus/stories.txt", "output file")
	flag.Parse()
	m, err := engine.LoadDefault()
	if err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(*seed, 1))
	bos, eos := int32(m.Tokenizer.BOS()), int32(m.Tokenizer.EOS())
	var stories []string
	for len(stories) < *n {
		b := min(*batch, *n-len(stories))
		seqs := make([][]int32, b)
		done := make([]bool, b)
		for i := range seqs {
			seqs[i] = []int32{bos}
		}
		for step := 0; step < *maxTok; step++ {
			t := (step + 32) / 32 * 32 // right-padded to a multiple of 32: one compiled graph per bucket
			ids, mask := make([][]int32, b), make([][]bool, b)
			for i := range seqs {
				ids[i], mask[i] = make([]int32, t), make([]bool, t)
				copy(ids[i], seqs[i])
				for j := range seqs[i] {
					mask[i][j] = true
				}
			}
			res, err := m.Run(engine.Request{IDs: ids, Mask: mask})
			if err != nil {
				log.Fatal(err)
			}
			v := m.Dims().Vocab
			all := true
			for i := range seqs {
				if done[i] {
					continue
				}
				last := len(seqs[i]) - 1
				row := res.Logits.Data[(i*t+last)*v : (i*t+last+1)*v]
				id := sample(row, *temp, rng)
				if id == bos || id == eos {
					done[i] = true
					continue
				}
				seqs[i] = append(seqs[i], id)
				all = false
			}
			if all {
				break
			}
		}
		for _, s := range seqs {
			ids := make([]int, len(s))
			for i, v := range s {
				ids[i] = int(v)
			}
			text := lastSentence(strings.TrimSpace(m.Tokenizer.Decode(ids, true)))
			if text != "" {
				stories = append(stories, text)
			}
		}
		fmt.Fprintf(os.Stderr, "%d stories\n", len(stories))
	}
	if err := os.WriteFile(*out, []byte(strings.Join(stories, "\n<|endoftext|>\n")+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
}

func sample(logits []float32, temp float64, rng *rand.Rand) int32 {
	mx := math.Inf(-1)
	for _, l := range logits {
		mx = math.Max(mx, float64(l))
	}
	p := make([]float64, len(logits))
	var sum float64
	for i, l := range logits {
		p[i] = math.Exp((float64(l) - mx) / temp)
		sum += p[i]
	}
	r := rng.Float64() * sum
	for i := range p {
		r -= p[i]
		if r <= 0 {
			return int32(i)
		}
	}
	return int32(len(p) - 1)
}

// lastSentence cuts text after its last '.', '!' or '?' (and a closing
// quote right after it), so stories cut by -max end cleanly.
func lastSentence(text string) string {
	end := -1
	for i := 0; i < len(text); i++ {
		if c := text[i]; c == '.' || c == '!' || c == '?' {
			end = i + 1
			if end < len(text) && text[end] == '"' {
				end++
			}
		}
	}
	if end < 0 {
		return text
	}
	return text[:end]
}
