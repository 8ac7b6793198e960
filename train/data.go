package train

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/glia-dev/glia/corpus"
)

// Task supplies batches. Batches are functions of (seed, step) alone, not
// of a generator advanced step by step, so a resumed run sees exactly the
// batches an uninterrupted one would: (seed, step) is the whole RNG state.
type Task interface {
	// Train returns the batch of 0-based step.
	Train(step int) Batch
	// Eval returns the fixed held-out batches.
	Eval() []Batch
	// Vocab is the number of token ids the task uses.
	Vocab() int
	// BOS is the id every sequence starts with, or -1.
	BOS() int
	// Describe is a one-line summary for logs.
	Describe() string
}

// Streams separate what one seed drives.
const (
	streamTrain = 1 << 32
	streamEval  = 2 << 32
	streamSplit = 3 << 32
)

func rng(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// Induction is TransformerLens's induction task: random tokens from
// [1, vocab) repeated once, after BOS (id 0). Each sequence draws its period
// h from [MinHalf, Half()] and starts with seq-2h random filler tokens, so
// the repeat sits at a different offset every time: with one fixed period a
// layer-0 head learns to attend to position q-h+1 by position alone, and
// no induction circuit forms. The filler and the first copy are
// unpredictable (loss ≈ ln(vocab-1)); the second copy is predictable by an
// induction circuit. Eval measures the second copy alone.
type Induction struct {
	Seed          uint64
	Batch, Seq    int
	VocabSize     int
	MinHalf       int // shortest period (0: Half()/2)
	EvalSequences int // held-out sequences (default 64)
}

// Span is where a sequence's copies lie: the first at inputs [Start,
// Start+Half), the second from Start+Half.
type Span struct{ Start, Half int }

// Half is the longest period: ⌈seq/2⌉.
func (t *Induction) Half() int { return (t.Seq + 1) / 2 }

func (t *Induction) minHalf() int {
	if t.MinHalf > 0 {
		return min(t.MinHalf, t.Half())
	}
	return max(1, t.Half()/2)
}

func (t *Induction) check() error {
	if t.Seq < 4 {
		return fmt.Errorf("train: induction needs sequences of at least 4 tokens, got %d", t.Seq)
	}
	if t.VocabSize < 3 {
		return fmt.Errorf("train: induction needs a vocabulary of at least 3 tokens, got %d", t.VocabSize)
	}
	if t.Batch < 1 {
		return fmt.Errorf("train: batch must be positive, got %d", t.Batch)
	}
	return nil
}

func (t *Induction) batch(r *rand.Rand, n int, repeatOnly bool) (Batch, []Span) {
	T := t.Seq
	b := Batch{B: n, T: T, IDs: make([]int32, n*T), Targets: make([]int32, n*T), Mask: make([]float32, n*T)}
	spans := make([]Span, n)
	full := make([]int32, T+1)
	lo, hi := t.minHalf(), t.Half()
	for i := range n {
		h := lo + r.IntN(hi-lo+1)
		start := 1 + max(0, T-2*h)
		full[0] = 0
		for j := 1; j < start+h; j++ {
			full[j] = int32(1 + r.IntN(t.VocabSize-1))
		}
		copy(full[start+h:], full[start:start+h])
		copy(b.IDs[i*T:], full[:T])
		copy(b.Targets[i*T:], full[1:])
		spans[i] = Span{Start: start, Half: h}
		for j := range T {
			if !repeatOnly || j > start+h-1 { // input j ≥ start+h is a repeated token; its successor is known
				b.Mask[i*T+j] = 1
			}
		}
	}
	return b, spans
}

func (t *Induction) Train(step int) Batch {
	b, _ := t.batch(rng(t.Seed, streamTrain+uint64(step)), t.Batch, false)
	return b
}

// EvalSpans is the held-out batch (the second copies weighted) and each
// sequence's span.
func (t *Induction) EvalSpans() (Batch, []Span) {
	n := t.EvalSequences
	if n <= 0 {
		n = 64
	}
	return t.batch(rng(t.Seed, streamEval), n, true)
}

func (t *Induction) Eval() []Batch {
	b, _ := t.EvalSpans()
	return []Batch{b}
}

func (t *Induction) Vocab() int { return t.VocabSize }
func (t *Induction) BOS() int   { return 0 }
func (t *Induction) Describe() string {
	return fmt.Sprintf("induction: %d-%d random tokens from [1,%d) repeated once after random filler, %d inputs per sequence", t.minHalf(), t.Half(), t.VocabSize, t.Seq)
}

// ModAdd is the grokking set-up: inputs [a, b, =] with a, b in [0, P) and
// "=" the token P; the answer (a+b) mod P is predicted at the last
// position only. A seeded TrainFrac of the P² pairs trains, full batch;
// the rest are held out.
type ModAdd struct {
	P         int
	Seed      uint64
	TrainFrac float64 // default 0.3
	train     Batch
	test      Batch
}

// NewModAdd splits the pairs.
func NewModAdd(p int, seed uint64, frac float64) (*ModAdd, error) {
	if p < 2 {
		return nil, fmt.Errorf("train: modadd needs p ≥ 2, got %d", p)
	}
	if frac == 0 {
		frac = 0.3
	}
	if frac <= 0 || frac >= 1 {
		return nil, fmt.Errorf("train: modadd training fraction must lie in (0, 1), got %g", frac)
	}
	t := &ModAdd{P: p, Seed: seed, TrainFrac: frac}
	pairs := rng(seed, streamSplit).Perm(p * p)
	n := max(1, int(frac*float64(p*p)))
	t.train, t.test = t.batch(pairs[:n]), t.batch(pairs[n:])
	return t, nil
}

func (t *ModAdd) batch(pairs []int) Batch {
	n := len(pairs)
	b := Batch{B: n, T: 3, IDs: make([]int32, 3*n), Targets: make([]int32, 3*n), Mask: make([]float32, 3*n)}
	for i, ab := range pairs {
		a, c := ab/t.P, ab%t.P
		copy(b.IDs[3*i:], []int32{int32(a), int32(c), int32(t.P)})
		b.Targets[3*i+2] = int32((a + c) % t.P)
		b.Mask[3*i+2] = 1
	}
	return b
}

func (t *ModAdd) Train(int) Batch { return t.train }
func (t *ModAdd) Eval() []Batch   { return []Batch{t.test} }
func (t *ModAdd) Vocab() int      { return t.P + 1 }
func (t *ModAdd) BOS() int        { return -1 }
func (t *ModAdd) Describe() string {
	return fmt.Sprintf("modadd: (a+b) mod %d, %d training pairs (full batch), %d held out", t.P, t.train.B, t.test.B)
}

// Corpus trains on text packed as the atlas packs it (corpus.Packer):
// windows of seq+1 tokens, each giving seq inputs and their next tokens.
// The whole corpus is tokenized up front (small corpora: they live in
// memory); the last heldOut fraction of the windows (at least one window)
// is held out. Each epoch visits the training windows in an order drawn
// from (seed, epoch).
type Corpus struct {
	Seed       uint64
	Batch, Seq int
	vocab, bos int
	train      [][]int32
	held       [][]int32
	perms      map[int][]int
}

// NewCorpus packs shards with encode; bos < 0 means none. The held-out
// windows are a systematic sample (evenly spaced through the stream) rather
// than its tail, so every file of a directory contributes to both sides in
// proportion to its size.
func NewCorpus(shards []corpus.Shard, opt corpus.Options, encode func(string) []int32, bos, vocab int, seq, batch int, seed uint64, heldOut float64) (*Corpus, error) {
	wins, err := packWindows(shards, opt, encode, bos, seq, batch)
	if err != nil {
		return nil, err
	}
	c := &Corpus{Seed: seed, Batch: batch, Seq: seq, vocab: vocab, bos: bos, perms: map[int][]int{}}
	for i, w := range wins {
		if heldOut > 0 && (int(float64(i+1)*heldOut) > int(float64(i)*heldOut)) {
			c.held = append(c.held, w)
		} else {
			c.train = append(c.train, w)
		}
	}
	if heldOut > 0 && len(c.held) == 0 && len(c.train) > 0 {
		c.held, c.train = c.train[len(c.train)-1:], c.train[:len(c.train)-1]
	}
	if len(c.train) < batch {
		return nil, fmt.Errorf("train: the corpus packs into %d windows of up to %d tokens (%d held out), fewer than one batch of %d: give more text or lower the batch or sequence length", len(wins), seq+1, len(c.held), batch)
	}
	return c, nil
}

func packWindows(shards []corpus.Shard, opt corpus.Options, encode func(string) []int32, bos, seq, batch int) ([][]int32, error) {
	if seq < 1 || batch < 1 {
		return nil, fmt.Errorf("train: sequence length (%d) and batch (%d) must be positive", seq, batch)
	}
	p, err := corpus.NewPacker(shards, opt, encode, int32(bos), seq+1, corpus.Cursor{})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var wins [][]int32
	for {
		w, err := p.Next()
		if errors.Is(err, io.EOF) {
			return wins, nil
		}
		if err != nil {
			return nil, err
		}
		if len(w.IDs) >= 2 {
			wins = append(wins, w.IDs)
		}
	}
}

// EvalSet is a named held-out text evaluated beside the task's own held-out
// set (glia train --eval NAME=PATH): a language, a domain.
type EvalSet struct {
	Name    string
	Batches []Batch
}

// NewEvalSet packs all of shards' text into windows of seq+1 tokens, as
// training windows are packed.
func NewEvalSet(name string, shards []corpus.Shard, opt corpus.Options, encode func(string) []int32, bos, seq, batch int) (EvalSet, error) {
	wins, err := packWindows(shards, opt, encode, bos, seq, batch)
	if err != nil {
		return EvalSet{}, err
	}
	if len(wins) == 0 {
		return EvalSet{}, fmt.Errorf("train: evaluation set %q has no text that packs into a window of two tokens or more", name)
	}
	c := &Corpus{Batch: batch, Seq: seq, held: wins}
	return EvalSet{Name: name, Batches: c.Eval()}, nil
}

// Windows is the number of training windows.
func (c *Corpus) Windows() int { return len(c.train) }

func (c *Corpus) pack(wins [][]int32) Batch {
	n, T := len(wins), c.Seq
	b := Batch{B: n, T: T, IDs: make([]int32, n*T), Targets: make([]int32, n*T), Mask: make([]float32, n*T)}
	for i, w := range wins {
		// A shard's last window may be short: the rest is padding, masked out.
		copy(b.IDs[i*T:], w[:len(w)-1])
		copy(b.Targets[i*T:], w[1:])
		for j := range len(w) - 1 {
			b.Mask[i*T+j] = 1
		}
	}
	return b
}

func (c *Corpus) Train(step int) Batch {
	n := len(c.train)
	wins := make([][]int32, c.Batch)
	for j := range c.Batch {
		k := step*c.Batch + j
		epoch := k / n
		perm, ok := c.perms[epoch]
		if !ok {
			clear(c.perms) // one epoch at a time is enough going forward
			perm = rng(c.Seed, streamTrain+uint64(epoch)).Perm(n)
			c.perms[epoch] = perm
		}
		wins[j] = c.train[perm[k%n]]
	}
	return c.pack(wins)
}

func (c *Corpus) Eval() []Batch {
	var out []Batch
	for i := 0; i < len(c.held); i += c.Batch {
		out = append(out, c.pack(c.held[i:min(len(c.held), i+c.Batch)]))
	}
	return out
}

func (c *Corpus) Vocab() int { return c.vocab }
func (c *Corpus) BOS() int   { return c.bos }
func (c *Corpus) Describe() string {
	return fmt.Sprintf("corpus: %d training windows of %d tokens, %d held out", len(c.train), c.Seq+1, len(c.held))
}
