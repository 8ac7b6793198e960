package atlas

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"sync"
	"time"

	"github.com/glia-dev/glia/corpus"
)

// ErrEmptyCorpus is returned when the corpus yields no tokens.
var ErrEmptyCorpus = errors.New("atlas: the corpus is empty: no document holds text that encodes to tokens")

// DefaultHooks is the hook pattern recorded when none is given.
const DefaultHooks = "blocks.*.mlp.hook_post"

// BuildOptions configure Build. Zero values take the defaults noted.
type BuildOptions struct {
	Out           string         // database path (required)
	Shards        []corpus.Shard // resolved corpus (required)
	CorpusOptions corpus.Options
	Hooks         string  // hook pattern (DefaultHooks)
	Ctx           int     // window length (128, capped at the model's MaxContext)
	TopK          int     // 20
	Radius        int     // 15: 31-token spans
	Threshold     float32 // density threshold (ThresholdSet false: 0.5)
	ThresholdSet  bool
	RandomK       int   // 8
	Bands         int   // 6
	BandK         int   // 3
	Batch         int   // windows per forward pass (8)
	MaxTokens     int64 // stop after this many tokens (0: whole corpus)
	Resume        bool  // continue an interrupted build in Out

	Workers           int           // goroutines for the update (GOMAXPROCS)
	CheckpointEvery   time.Duration // 15s (or 10x the last checkpoint's duration, if longer)
	CheckpointBatches int           // if > 0, also checkpoint after this many batches (tests)

	Log          io.Writer                   // notices (long documents, resume); nil: none
	OnProgress   func(done, total int64)     // after each batch; total is an estimate
	OnCheckpoint func(tokens, windows int64) // after each committed checkpoint
}

// BuildResult summarises a build.
type BuildResult struct {
	Tokens, Windows int64
	Units           int
	Resumed         bool
	AlreadyComplete bool
	Elapsed         time.Duration
	ForwardTime     time.Duration // time inside Model.Forward
	UpdateTime      time.Duration // time folding activations into the state
	CheckpointTime  time.Duration
}

func (o *BuildOptions) defaults(m Model) error {
	if o.Out == "" {
		return errors.New("atlas: no output database given")
	}
	if len(o.Shards) == 0 {
		return errors.New("atlas: no corpus given")
	}
	if o.Hooks == "" {
		o.Hooks = DefaultHooks
	}
	if o.Ctx == 0 {
		o.Ctx = min(128, m.MaxContext())
	}
	if o.Ctx < 1 || o.Ctx > m.MaxContext() {
		return fmt.Errorf("atlas: --ctx %d is outside 1..%d (the model's longest context)", o.Ctx, m.MaxContext())
	}
	if o.Ctx > MaxCtx {
		return fmt.Errorf("atlas: --ctx %d is longer than the atlas supports (%d)", o.Ctx, MaxCtx)
	}
	if o.TopK == 0 {
		o.TopK = 20
	}
	if o.Radius == 0 {
		o.Radius = 15
	}
	if !o.ThresholdSet {
		o.Threshold = 0.5
	}
	if o.RandomK == 0 {
		o.RandomK = 8
	}
	if o.Bands == 0 {
		o.Bands = 6
	}
	if o.BandK == 0 {
		o.BandK = 3
	}
	if o.Batch == 0 {
		o.Batch = 8
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 15 * time.Second
	}
	for _, v := range []struct {
		name string
		v    int
	}{{"top-k", o.TopK}, {"window radius", o.Radius}, {"random-k", o.RandomK}, {"bands", o.Bands}, {"band-k", o.BandK}, {"batch", o.Batch}} {
		if v.v < 0 || v.v > 1<<16 {
			return fmt.Errorf("atlas: %s %d out of range", v.name, v.v)
		}
	}
	if o.Batch < 1 {
		return errors.New("atlas: batch must be at least 1")
	}
	return nil
}

func shardSeed(hash string) uint64 {
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) < 8 {
		return mix64(uint64(len(hash)))
	}
	return binary.LittleEndian.Uint64(b)
}

// Build computes the atlas of m over the corpus into opt.Out, checkpointing
// as it goes. Cancelling ctx checkpoints and returns an error wrapping
// ctx.Err(); a build killed at any moment continues with Resume.
func Build(ctx context.Context, m Model, opt BuildOptions) (*BuildResult, error) {
	start := time.Now()
	if err := opt.defaults(m); err != nil {
		return nil, err
	}
	names, err := m.MatchHooks(opt.Hooks)
	if err != nil {
		return nil, fmt.Errorf("atlas: hooks %q: %w", opt.Hooks, err)
	}
	set := &Settings{Ctx: opt.Ctx, TopK: opt.TopK, Radius: opt.Radius, Threshold: opt.Threshold,
		RandomK: opt.RandomK, Bands: opt.Bands, BandK: opt.BandK}
	units := 0
	for _, n := range names {
		w, err := m.HookWidth(n)
		if err != nil {
			return nil, fmt.Errorf("atlas: hook %s: %w", n, err)
		}
		set.Hooks = append(set.Hooks, HookSpec{Name: n, Width: w})
		units += w
	}
	if len(opt.Shards) >= 1<<16 {
		return nil, fmt.Errorf("atlas: %d corpus paths; at most %d", len(opt.Shards), 1<<16-1)
	}
	meta := &Meta{SchemaVersion: SchemaVersion, GliaVersion: GliaVersion, ModelFingerprint: m.Fingerprint(),
		ModelName: m.Name(), Settings: *set, Corpus: shardInfos(opt.Shards), Packing: corpus.PackingRule,
		TextField: opt.CorpusOptions.TextField, DocSep: opt.CorpusOptions.DocSep, MaxTokens: opt.MaxTokens,
		Status: StatusBuilding, CreatedAt: time.Now().UTC().Format(time.RFC3339)}

	res := &BuildResult{Units: units}
	var db *sql.DB
	var hooks []*hookState
	var prog progressRow
	exists := false
	if st, err := os.Stat(opt.Out); err == nil && st.Size() > 0 {
		exists = true
	}
	if exists && !opt.Resume {
		return nil, fmt.Errorf("atlas: %s already exists; pass --resume to continue that build, or delete it", opt.Out)
	}
	if exists {
		var old *Meta
		db, old, err = openExisting(opt.Out)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		if err := sameBuild(old, meta); err != nil {
			return nil, fmt.Errorf("atlas: cannot resume %s: %w", opt.Out, err)
		}
		p, err := readProgress(db)
		if err != nil {
			return nil, fmt.Errorf("atlas: cannot resume %s: %w", opt.Out, err)
		}
		prog = *p
		if old.Status == StatusComplete {
			res.AlreadyComplete = true
			res.Tokens, res.Windows = prog.Tokens, prog.Windows
			return res, nil
		}
		hooks, _, err = loadState(db, set, 0, prog.Checksum)
		if err != nil {
			return nil, fmt.Errorf("atlas: cannot resume %s: %w", opt.Out, err)
		}
		meta.CreatedAt = old.CreatedAt
		meta.Corpus = old.Corpus
		res.Resumed = true
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "atlas: resuming %s at %d tokens (%d windows)\n", opt.Out, prog.Tokens, prog.Windows)
		}
	} else {
		db, err = openSQLite(opt.Out)
		if err != nil {
			return nil, fmt.Errorf("atlas: creating %s: %w", opt.Out, err)
		}
		defer db.Close()
		if err := createSchema(db); err != nil {
			return nil, fmt.Errorf("atlas: creating %s: %w", opt.Out, err)
		}
		hooks = make([]*hookState, len(set.Hooks))
		for i, h := range set.Hooks {
			hooks[i] = newHookState(h, set)
		}
		// An initial checkpoint makes the file a resumable atlas at once.
		if err := writeState(db, meta, hooks, prog, m.TokenString); err != nil {
			return nil, fmt.Errorf("atlas: writing %s: %w", opt.Out, err)
		}
	}

	b := &builder{m: m, opt: &opt, set: set, hooks: hooks, db: db, meta: meta, prog: prog, res: res}
	err = b.run(ctx)
	if errors.Is(err, ErrEmptyCorpus) && !exists {
		db.Close()
		for _, suf := range []string{"", "-wal", "-shm"} {
			os.Remove(opt.Out + suf)
		}
	}
	res.Tokens, res.Windows = b.prog.Tokens, b.prog.Windows
	res.Elapsed = time.Since(start)
	return res, err
}

// sameBuild reports how a stored build differs from the requested one.
func sameBuild(old, want *Meta) error {
	if old.ModelFingerprint != want.ModelFingerprint {
		return fmt.Errorf("it was built with another model (%s, fingerprint %.16s), not %s (%.16s)", old.ModelName, old.ModelFingerprint, want.ModelName, want.ModelFingerprint)
	}
	if !reflect.DeepEqual(old.Settings, want.Settings) {
		return fmt.Errorf("its settings differ: stored %+v, requested %+v", old.Settings, want.Settings)
	}
	if len(old.Corpus) != len(want.Corpus) {
		return fmt.Errorf("it was built over %d corpus paths, not %d", len(old.Corpus), len(want.Corpus))
	}
	for i := range old.Corpus {
		if old.Corpus[i].Hash != want.Corpus[i].Hash {
			return fmt.Errorf("corpus path %d (%s) has changed since the build started", i+1, want.Corpus[i].Name)
		}
	}
	if old.TextField != want.TextField || old.DocSep != want.DocSep || old.MaxTokens != want.MaxTokens {
		return errors.New("its --text-field, --doc-sep or --max-tokens differ")
	}
	return nil
}

type builder struct {
	m     Model
	opt   *BuildOptions
	set   *Settings
	hooks []*hookState
	db    *sql.DB
	meta  *Meta
	prog  progressRow
	res   *BuildResult

	lastCk    time.Time
	ckCost    time.Duration
	sinceCk   int
	textBytes int64
	seeds     []uint64
}

type fwdResult struct {
	bt   *batch
	next corpus.Cursor
	acts map[string][]float32
	err  error
	dur  time.Duration
	last bool
}

// produce packs windows into batches and runs the model, one batch ahead
// of the update.
func (b *builder) produce(ctx context.Context, out chan<- fwdResult) {
	defer close(out)
	send := func(r fwdResult) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	p, err := corpus.NewPacker(b.opt.Shards, b.opt.CorpusOptions, b.m.Encode, b.m.BOS(), b.set.Ctx, b.prog.Cursor)
	if err != nil {
		send(fwdResult{err: err})
		return
	}
	defer p.Close()
	longDocs := 0
	p.OnLongDoc = func(shard, file string, doc int64, n int) {
		longDocs++
		if b.opt.Log != nil && longDocs == 1 && !b.res.Resumed {
			fmt.Fprintf(b.opt.Log, "atlas: note: document %d of %s (%s) has %d tokens, more than a %d-token window; such documents continue into the next windows without a new BOS (see docs/atlas.md)\n", doc, file, shard, n, b.set.Ctx)
		}
	}
	tokens := b.prog.Tokens
	var pending *corpus.Window
	done := false
	for !done {
		var ws []*corpus.Window
		var next corpus.Cursor
		for len(ws) < b.opt.Batch {
			w := pending
			pending = nil
			if w == nil {
				if b.opt.MaxTokens > 0 && tokens >= b.opt.MaxTokens {
					done = true
					break
				}
				w, err = p.Next()
				if errors.Is(err, io.EOF) {
					done = true
					break
				}
				if err != nil {
					send(fwdResult{err: err})
					return
				}
				if b.opt.MaxTokens > 0 && tokens+int64(len(w.IDs)) > b.opt.MaxTokens {
					n := b.opt.MaxTokens - tokens
					w.IDs, w.Docs = w.IDs[:n], w.Docs[:n]
				}
				tokens += int64(len(w.IDs))
			}
			if len(ws) > 0 && (w.Shard != ws[0].Shard || len(w.IDs) != len(ws[0].IDs)) {
				pending = w
				break
			}
			ws = append(ws, w)
			next = w.Next
		}
		if len(ws) == 0 {
			break
		}
		bt := b.makeBatch(ws)
		ids := bt.ids
		t0 := time.Now()
		acts, err := b.m.Forward(ids, b.hookNames())
		r := fwdResult{bt: bt, next: next, acts: acts, err: err, dur: time.Since(t0), last: done && pending == nil}
		if err == nil {
			for _, h := range b.set.Hooks {
				if a, ok := acts[h.Name]; !ok || len(a) != bt.b*bt.t*h.Width {
					r.err = fmt.Errorf("atlas: model returned %d values for hook %s, want %d×%d×%d", len(a), h.Name, bt.b, bt.t, h.Width)
				}
			}
		}
		if !send(r) || r.err != nil {
			return
		}
	}
}

func (b *builder) hookNames() []string {
	n := make([]string, len(b.set.Hooks))
	for i, h := range b.set.Hooks {
		n[i] = h.Name
	}
	return n
}

func (b *builder) makeBatch(ws []*corpus.Window) *batch {
	t := len(ws[0].IDs)
	bt := &batch{b: len(ws), t: t, keys: make([]uint64, len(ws)*t), hash: make([]uint64, len(ws)*t)}
	for i, w := range ws {
		bt.ids = append(bt.ids, w.IDs)
		bt.docs = append(bt.docs, w.Docs)
		seed := b.seeds[w.Shard]
		for p := 0; p < t; p++ {
			bt.keys[i*t+p] = posKey(w.Shard, w.Index, p)
			bt.hash[i*t+p] = posHash(seed, w.Index, p)
		}
	}
	bt.tokens = int64(len(ws) * t)
	return bt
}

func (b *builder) run(ctx context.Context) error {
	for _, s := range b.opt.Shards {
		b.seeds = append(b.seeds, shardSeed(s.Hash))
	}
	var totalBytes int64
	for _, s := range b.opt.Shards {
		totalBytes += s.Bytes()
	}
	b.lastCk = time.Now()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan fwdResult, 1)
	go b.produce(pctx, ch)
	defer func() {
		cancel()
		for range ch {
		}
	}()
	shardTok := make([]int64, len(b.meta.Corpus))
	shardWin := make([]int64, len(b.meta.Corpus))
	for i, s := range b.meta.Corpus {
		shardTok[i], shardWin[i] = s.Tokens, s.Windows
	}
	for {
		var r fwdResult
		var ok bool
		select {
		case r, ok = <-ch:
		case <-ctx.Done():
			ok = false
		}
		if !ok {
			if ctx.Err() != nil {
				if err := b.checkpoint(false); err != nil {
					return err
				}
				return fmt.Errorf("atlas: interrupted after %d tokens; run again with --resume to continue: %w", b.prog.Tokens, ctx.Err())
			}
			break
		}
		if r.err != nil {
			return r.err
		}
		b.res.ForwardTime += r.dur
		t0 := time.Now()
		b.update(r.bt, r.acts)
		b.res.UpdateTime += time.Since(t0)
		b.prog.Cursor = r.next
		b.prog.Tokens += r.bt.tokens
		b.prog.Windows += int64(r.bt.b)
		sh := int(r.bt.keys[0] >> (posBits + windowBits))
		shardTok[sh] += r.bt.tokens
		shardWin[sh] += int64(r.bt.b)
		for i := range b.meta.Corpus {
			b.meta.Corpus[i].Tokens, b.meta.Corpus[i].Windows = shardTok[i], shardWin[i]
		}
		b.sinceCk++
		if b.opt.OnProgress != nil {
			total := b.prog.Tokens
			if frac := b.fraction(); frac > 0 {
				total = max(total, int64(float64(b.prog.Tokens)/frac))
			}
			if b.opt.MaxTokens > 0 {
				total = min(total, b.opt.MaxTokens)
			}
			b.opt.OnProgress(b.prog.Tokens, total)
		}
		if r.last {
			break
		}
		due := time.Since(b.lastCk) >= max(b.opt.CheckpointEvery, 10*b.ckCost)
		if b.opt.CheckpointBatches > 0 && b.sinceCk >= b.opt.CheckpointBatches {
			due = true
		}
		if due {
			if err := b.checkpoint(false); err != nil {
				return err
			}
		}
	}
	if b.prog.Tokens == 0 {
		return ErrEmptyCorpus
	}
	return b.checkpoint(true)
}

// fraction estimates the share of the corpus done, from the cursor.
func (b *builder) fraction() float64 {
	var total, done int64
	c := b.prog.Cursor
	for i, s := range b.opt.Shards {
		for j, f := range s.Files {
			total += f.Size
			if i < c.Shard || (i == c.Shard && j < c.File) {
				done += f.Size
			}
		}
	}
	if total == 0 {
		return 0
	}
	// Within the current file, count half of it as a rough guess.
	if c.Shard < len(b.opt.Shards) && c.File < len(b.opt.Shards[c.Shard].Files) {
		done += b.opt.Shards[c.Shard].Files[c.File].Size / 2
	}
	return float64(done) / float64(total)
}

func (b *builder) checkpoint(final bool) error {
	t0 := time.Now()
	if final {
		b.meta.Status = StatusComplete
	}
	b.meta.Tokens, b.meta.Windows = b.prog.Tokens, b.prog.Windows
	if err := writeState(b.db, b.meta, b.hooks, b.prog, b.m.TokenString); err != nil {
		return fmt.Errorf("atlas: checkpoint to %s: %w", b.opt.Out, err)
	}
	b.ckCost = time.Since(t0)
	b.res.CheckpointTime += b.ckCost
	b.lastCk = time.Now()
	b.sinceCk = 0
	if b.opt.OnCheckpoint != nil {
		b.opt.OnCheckpoint(b.prog.Tokens, b.prog.Windows)
	}
	return nil
}

// update folds one batch into every hook's state, in parallel over units.
func (b *builder) update(bt *batch, acts map[string][]float32) {
	type task struct {
		hs     *hookState
		lo, hi int
		a      []float32
	}
	var tasks []task
	total := 0
	for _, hs := range b.hooks {
		total += hs.spec.Width
	}
	chunk := max(64, (total+b.opt.Workers*4-1)/(b.opt.Workers*4))
	for _, hs := range b.hooks {
		for lo := 0; lo < hs.spec.Width; lo += chunk {
			tasks = append(tasks, task{hs, lo, min(lo+chunk, hs.spec.Width), acts[hs.spec.Name]})
		}
	}
	var wg sync.WaitGroup
	next := make(chan task, len(tasks))
	for _, t := range tasks {
		next <- t
	}
	close(next)
	for w := 0; w < min(b.opt.Workers, len(tasks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range next {
				t.hs.update(t.lo, t.hi, t.a, bt)
			}
		}()
	}
	wg.Wait()
	for _, hs := range b.hooks {
		hs.count += bt.tokens
	}
}
