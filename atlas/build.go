package atlas

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/glia-dev/glia/corpus"
)

// ErrEmptyCorpus is returned when the corpus yields no tokens.
var ErrEmptyCorpus = errors.New("atlas: the corpus is empty: no document holds text that encodes to tokens")

// DefaultHooks is the hook pattern recorded when none is given.
const DefaultHooks = "blocks.*.mlp.hook_post"

// BuildOptions configure Build. Zero values take the value in
// DefaultBuildOptions (Ctx: that, capped at the model's MaxContext).
type BuildOptions struct {
	Out           string         // database path (required)
	Shards        []corpus.Shard // resolved corpus (required)
	CorpusOptions corpus.Options
	Hooks         string  // hook pattern
	Ctx           int     // window length
	TopK          int     // top activating examples per unit
	Radius        int     // tokens kept either side of an example's token
	Threshold     float32 // density threshold (used when ThresholdSet)
	ThresholdSet  bool
	RandomK       int   // random examples per unit
	Bands         int   // activation bands sampled per unit
	BandK         int   // examples per band
	Batch         int   // windows per forward pass
	MaxTokens     int64 // stop after this many tokens (0: whole corpus)
	Resume        bool  // continue an unfinished build in Out
	Force         bool  // replace an atlas in Out, complete or not (wins over Resume)
	Slice         Slice // build only this slice of the corpus (zero: all of it); Merge joins the slices

	Workers           int           // goroutines for the update (GOMAXPROCS)
	CheckpointEvery   time.Duration // or checkpointSpacing (40) times the last checkpoint's duration, if longer
	CheckpointBatches int           // if > 0, also checkpoint after this many batches (tests)

	Log          io.Writer                               // notices (long documents, resume); nil: none
	OnProgress   func(Progress)                          // after each batch
	OnTokenize   func(file string, bytes int, done bool) // around encoding a large document (corpus.Packer.OnTokenize)
	OnCheckpoint func(tokens, windows int64)             // after each committed checkpoint
}

// DefaultBuildOptions holds the default of every setting; Build fills zero
// fields from it and the CLI's flags start from it.
func DefaultBuildOptions() BuildOptions {
	return BuildOptions{Hooks: DefaultHooks, Ctx: 128, TopK: 20, Radius: 15, Threshold: 0.5, ThresholdSet: true,
		RandomK: 8, Bands: 6, BandK: 3, Batch: 8, CheckpointEvery: 15 * time.Second,
		CorpusOptions: corpus.Options{TextField: "text"}}
}

// Progress is where a build stands, reported after each batch. Bytes count
// corpus text (decompressed), so Bytes/TotalBytes is the true share done.
type Progress struct {
	Tokens, Windows int64 // done, a resumed build's earlier work included
	Bytes           int64 // corpus text passed
	TotalBytes      int64 // corpus text in all
	StartTokens     int64 // where this run started: non-zero when resumed
	StartBytes      int64
	MaxTokens       int64 // the token limit (0: none)
}

// BuildResult summarises a build.
type BuildResult struct {
	Tokens, Windows int64
	Units           int
	Resumed         bool
	AlreadyComplete bool // Out already held this atlas, complete: nothing was done
	Replaced        bool // Out held an atlas that was replaced (Force, or one that never reached a checkpoint)
	Elapsed         time.Duration
	ForwardTime     time.Duration // time inside Model.Forward
	UpdateTime      time.Duration // time folding activations into the state
	CheckpointTime  time.Duration
	// The process's CPU time over the build and during its checkpoints
	// (ProcessCPU; the latter includes the next batch's forward pass where
	// it runs alongside a checkpoint): their ratio is the checkpoints'
	// share of the work, which a loaded machine leaves alone.
	CPU, CheckpointCPU time.Duration
}

func (o *BuildOptions) defaults(m Model) error {
	if o.Out == "" {
		return errors.New("atlas: no output database given")
	}
	if len(o.Shards) == 0 {
		return errors.New("atlas: no corpus given")
	}
	d := DefaultBuildOptions()
	if o.Hooks == "" {
		o.Hooks = d.Hooks
	}
	if o.Ctx == 0 {
		o.Ctx = min(d.Ctx, m.MaxContext())
	}
	if o.Ctx < 1 || o.Ctx > m.MaxContext() {
		return &OptionError{"Ctx", o.Ctx, fmt.Sprintf("is outside 1..%d (the model's longest context)", m.MaxContext())}
	}
	if o.Ctx > MaxCtx {
		return &OptionError{"Ctx", o.Ctx, fmt.Sprintf("is longer than the atlas supports (%d)", MaxCtx)}
	}
	for _, f := range []struct {
		v   *int
		def int
	}{{&o.TopK, d.TopK}, {&o.Radius, d.Radius}, {&o.RandomK, d.RandomK}, {&o.Bands, d.Bands}, {&o.BandK, d.BandK}, {&o.Batch, d.Batch}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if !o.ThresholdSet {
		o.Threshold = d.Threshold
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = d.CheckpointEvery
	}
	if o.CorpusOptions.TextField == d.CorpusOptions.TextField {
		o.CorpusOptions.TextField = "" // stored as "" (the default) in every atlas
	}
	for _, v := range []struct {
		name string
		v    int
	}{{"TopK", o.TopK}, {"Radius", o.Radius}, {"RandomK", o.RandomK}, {"Bands", o.Bands}, {"BandK", o.BandK}, {"Batch", o.Batch}} {
		if v.v < 0 || v.v > 1<<16 {
			return &OptionError{v.name, v.v, fmt.Sprintf("is outside 0..%d", 1<<16)}
		}
	}
	if o.Batch < 1 {
		return &OptionError{"Batch", o.Batch, "must be at least 1"}
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
// as it goes. Cancelling ctx checkpoints and returns an *InterruptedError; a
// build killed at any moment continues with Resume.
//
// Everything that can be checked is checked before Out is created: the
// options, the hooks and their shapes. A database this call created is
// removed again if the build fails before its first checkpoint with tokens
// in it, and one left by an earlier build that never got that far is
// replaced: only a database holding work is kept. An existing complete atlas
// of the same build is reported (AlreadyComplete) and left as it is; other
// existing files are an *ExistsError unless Resume or Force says what to do.
func Build(ctx context.Context, m Model, opt BuildOptions) (*BuildResult, error) {
	start, cpu0 := time.Now(), ProcessCPU()
	if err := opt.defaults(m); err != nil {
		return nil, err
	}
	set, units, err := buildSettings(m, &opt)
	if err != nil {
		return nil, err
	}
	if len(opt.Shards) >= 1<<16 {
		return nil, fmt.Errorf("atlas: %d corpus paths; at most %d", len(opt.Shards), 1<<16-1)
	}
	meta := &Meta{SchemaVersion: SchemaVersion, GliaVersion: GliaVersion, ModelFingerprint: m.Fingerprint(),
		ModelName: m.Name(), Settings: *set, Corpus: shardInfos(opt.Shards), Packing: corpus.PackingRule,
		TextField: opt.CorpusOptions.TextField, DocSep: opt.CorpusOptions.DocSep, MaxTokens: opt.MaxTokens,
		Slice: opt.Slice.withBatch(opt.Batch), Status: StatusBuilding, CreatedAt: time.Now().UTC().Format(time.RFC3339)}

	res := &BuildResult{Units: units}
	old, err := probeOut(opt.Out)
	if err != nil {
		return nil, err
	}
	resume := false
	if old != nil {
		resume, err = decide(old, meta, &opt, res)
		if err != nil || res.AlreadyComplete {
			return res.orNil(err)
		}
		if !resume {
			if err := removeDB(opt.Out); err != nil {
				return nil, fmt.Errorf("atlas: replacing %s: %w", opt.Out, err)
			}
			res.Replaced = true
			if opt.Log != nil {
				fmt.Fprintf(opt.Log, "atlas: replacing %s (%s)\n", opt.Out, old.what())
			}
		}
	}
	var db *sql.DB
	var hooks []*hookState
	var ws *windowStore
	var prog progressRow
	if resume {
		var stored *Meta
		db, stored, err = openExisting(opt.Out)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		p, err := readProgress(db)
		if err != nil {
			return nil, fmt.Errorf("atlas: cannot resume %s: %w", opt.Out, err)
		}
		prog = *p
		hooks, ws, _, err = loadState(db, set, 0, prog.Checksum)
		if err != nil {
			return nil, fmt.Errorf("atlas: cannot resume %s: %w", opt.Out, err)
		}
		meta.CreatedAt = stored.CreatedAt
		meta.Corpus = stored.Corpus
		res.Resumed = true
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "atlas: resuming %s at %d tokens (%d windows)\n", opt.Out, prog.Tokens, prog.Windows)
		}
	} else {
		hooks = make([]*hookState, len(set.Hooks))
		for i, h := range set.Hooks {
			hooks[i] = newHookState(h, set)
		}
		ws = newWindowStore()
		t0, c0 := time.Now(), ProcessCPU()
		if db, err = createDB(opt.Out, meta, hooks, ws, m.TokenString); err != nil {
			return nil, err
		}
		defer db.Close()
		res.CheckpointTime, res.CheckpointCPU = time.Since(t0), ProcessCPU()-c0
	}

	// The WAL is copied into the database file in the background after each
	// checkpoint (walCheckpoint), while the next batches run.
	if _, err := db.Exec("PRAGMA wal_autocheckpoint=0"); err != nil {
		return nil, fmt.Errorf("atlas: %s: %w", opt.Out, err)
	}
	b := &builder{ckCost: res.CheckpointTime, m: m, opt: &opt, set: set, hooks: hooks, ws: ws, db: db, meta: meta, prog: prog, res: res, ckTokens: prog.Tokens}
	err = b.run(ctx)
	if err != nil && b.ckTokens == 0 {
		// Nothing worth resuming: leave no file to trip the next build.
		db.Close()
		removeDB(opt.Out)
	}
	res.Tokens, res.Windows = b.prog.Tokens, b.prog.Windows
	res.Elapsed, res.CPU = time.Since(start), ProcessCPU()-cpu0
	return res, err
}

func (r *BuildResult) orNil(err error) (*BuildResult, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// buildSettings resolves the hooks and their widths. Hooks without a
// position axis are left out of a glob that matches others too, and refused
// when named alone or when nothing else is left.
func buildSettings(m Model, opt *BuildOptions) (*Settings, int, error) {
	names, err := m.MatchHooks(opt.Hooks)
	if err != nil {
		return nil, 0, fmt.Errorf("atlas: hooks %q: %w", opt.Hooks, err)
	}
	set := &Settings{Ctx: opt.Ctx, TopK: opt.TopK, Radius: opt.Radius, Threshold: opt.Threshold,
		RandomK: opt.RandomK, Bands: opt.Bands, BandK: opt.BandK}
	units := 0
	var skipped []error
	for _, n := range names {
		h, err := hookSpec(m, n)
		var pe *PairHookError
		if errors.As(err, &pe) && len(names) > 1 {
			skipped = append(skipped, err)
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		set.Hooks = append(set.Hooks, h)
		units += h.Width
	}
	if len(set.Hooks) == 0 {
		return nil, 0, skipped[0]
	}
	if len(skipped) > 0 && opt.Log != nil {
		fmt.Fprintf(opt.Log, "atlas: note: leaving out %d hooks of %q that have no position axis (attention patterns and scores), e.g. %v\n", len(skipped), opt.Hooks, skipped[0])
	}
	return set, units, nil
}

// PairHookError is a hook whose values belong to pairs of positions
// ([batch, head, q, k]): no one token of a window is its example.
type PairHookError struct {
	Hook  string
	Shape []int // traced on one sequence; position axes shown as "pos"
	Pos   []int // the axes that grow with the sequence
}

func (e *PairHookError) Error() string {
	dims := make([]string, len(e.Shape))
	for i, d := range e.Shape {
		dims[i] = fmt.Sprint(d)
		if i == 0 {
			dims[i] = "batch"
		}
		if slices.Contains(e.Pos, i) {
			dims[i] = "pos"
		}
	}
	return fmt.Sprintf("atlas: hook %s is [%s]: the atlas records hooks with one value vector per token ([batch, pos, ...]), "+
		"and attention patterns and scores belong to pairs of tokens; record the heads' outputs instead (attn.hook_z, units head*d_head+i)",
		e.Hook, strings.Join(dims, ", "))
}

// hookSpec finds a hook's units: the product of its axes after [batch, pos].
func hookSpec(m Model, name string) (HookSpec, error) {
	hs, ok := m.(HookShaper)
	if !ok {
		w, err := m.HookWidth(name)
		if err != nil {
			return HookSpec{}, fmt.Errorf("atlas: hook %s: %w", name, err)
		}
		return HookSpec{Name: name, Width: w}, nil
	}
	a, err := hs.HookShape(name, 2)
	if err != nil {
		return HookSpec{}, fmt.Errorf("atlas: hook %s: %w", name, err)
	}
	b, err := hs.HookShape(name, 3)
	if err != nil {
		return HookSpec{}, fmt.Errorf("atlas: hook %s: %w", name, err)
	}
	var grow []int
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			grow = append(grow, i)
		}
	}
	if len(a) != len(b) || len(a) < 2 || a[0] != 1 || len(grow) != 1 || grow[0] != 1 {
		return HookSpec{}, &PairHookError{Hook: name, Shape: b, Pos: grow}
	}
	h := HookSpec{Name: name, Width: 1}
	for _, d := range a[2:] {
		h.Width *= d
	}
	if len(a) > 3 {
		h.Axes = a[2:]
	}
	return h, nil
}

// sameBuild reports how a stored build differs from the requested one.
func sameBuild(old, want *Meta) error {
	if old.ModelFingerprint != want.ModelFingerprint {
		return fmt.Errorf("it was built with another model (%s, fingerprint %.16s), not %s (%.16s)", old.ModelName, old.ModelFingerprint, want.ModelName, want.ModelFingerprint)
	}
	d := diffSettings(old, want)
	if old.MaxTokens != want.MaxTokens {
		d = append(d, SettingDiff{"max_tokens", fmt.Sprint(old.MaxTokens), fmt.Sprint(want.MaxTokens)})
	}
	if old.Slice != want.Slice {
		d = append(d, SettingDiff{"slice", sliceName(old.Slice), sliceName(want.Slice)})
	}
	if len(d) > 0 {
		return &SettingsError{A: "the stored build", B: "the requested one", Diffs: d}
	}
	if len(old.Corpus) != len(want.Corpus) {
		return fmt.Errorf("it was built over %d corpus paths, not %d", len(old.Corpus), len(want.Corpus))
	}
	for i := range old.Corpus {
		if old.Corpus[i].Hash != want.Corpus[i].Hash {
			return fmt.Errorf("corpus path %d (%s) has changed since the build started", i+1, want.Corpus[i].Name)
		}
	}
	return nil
}

type builder struct {
	m     Model
	opt   *BuildOptions
	set   *Settings
	hooks []*hookState
	ws    *windowStore
	db    *sql.DB
	meta  *Meta
	prog  progressRow
	res   *BuildResult

	lastCk    time.Time
	ckCost    time.Duration
	ckTokens  int64 // tokens of the last committed checkpoint
	sinceCk   int
	textBytes int64
	seeds     []uint64
	walDone   chan error // the background WAL checkpoint's result; nil: none running
	// lockstep, when not nil, holds the producer until the update of its
	// last batch is done: one batch of activations alive instead of two.
	lockstep chan struct{}
}

// lockstepBytes is the size of one batch's activations above which the
// forward pass does not run ahead of the update (an 8B model's MLP
// activations are 235 MB per 128-token window): memory, not overlap, is
// then what bounds the build, and the forward pass dominates anyway.
const lockstepBytes = 128 << 20

type fwdResult struct {
	bt    *batch
	next  corpus.Cursor
	bytes int64 // shard text passed after the batch (corpus.Window.Bytes)
	// corpus windows and tokens passed after the batch, other slices' included
	corpusWin, corpusTok int64
	acts                 map[string][]float32
	err                  error
	dur                  time.Duration
	last                 bool
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
	p.OnTokenize = b.opt.OnTokenize
	p.OnLongDoc = func(shard, file string, doc int64, n int) {
		longDocs++
		if b.opt.Log != nil && longDocs == 1 && !b.res.Resumed {
			fmt.Fprintf(b.opt.Log, "atlas: note: document %d of %s (%s) has %d tokens, more than a %d-token window; such documents continue into the next windows without a new BOS (see docs/atlas.md)\n", doc, file, shard, n, b.set.Ctx)
		}
	}
	// The token limit counts the whole corpus, and a slice forms the same
	// batches as one build, running the model on its own only: the windows
	// are those of one build, and so are their activations.
	tokens, gWin := b.prog.CorpusTokens, b.prog.CorpusWindows
	type owned struct {
		w          *corpus.Window
		gWin, gTok int64
	}
	var pending *owned
	done := false
	for !done {
		var ws []*corpus.Window
		var next corpus.Cursor
		var bytes, cWin, cTok int64
		for len(ws) < b.opt.Batch {
			o := pending
			pending = nil
			if o == nil {
				if b.opt.MaxTokens > 0 && tokens >= b.opt.MaxTokens {
					done = true
					break
				}
				w, err := p.Next()
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
				gWin++
				o = &owned{w, gWin, tokens}
			}
			w := o.w
			if len(ws) > 0 && (w.Shard != ws[0].Shard || len(w.IDs) != len(ws[0].IDs)) {
				pending = o
				break
			}
			ws = append(ws, w)
			next = w.Next
			bytes = w.Bytes
			cWin, cTok = o.gWin, o.gTok
		}
		if len(ws) == 0 {
			break
		}
		if !b.opt.Slice.owns(ws[0].Shard, ws[0].Index, b.opt.Batch) {
			continue
		}
		bt := b.makeBatch(ws)
		ids := bt.ids
		t0 := time.Now()
		acts, err := b.m.Forward(ids, b.hookNames())
		r := fwdResult{bt: bt, next: next, bytes: bytes, corpusWin: cWin, corpusTok: cTok, acts: acts, err: err, dur: time.Since(t0), last: done && pending == nil}
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
		if b.lockstep != nil {
			select {
			case <-b.lockstep:
			case <-ctx.Done():
				return
			}
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
	// before[i] is the corpus text before shard i.
	before := make([]int64, len(b.opt.Shards)+1)
	for i, s := range b.opt.Shards {
		before[i+1] = before[i] + s.TextBytes()
	}
	prog := Progress{TotalBytes: before[len(b.opt.Shards)], MaxTokens: b.opt.MaxTokens,
		StartTokens: b.prog.Tokens, StartBytes: before[min(b.prog.Cursor.Shard, len(b.opt.Shards))] + b.prog.Cursor.Bytes}
	prog.Tokens, prog.Windows, prog.Bytes = prog.StartTokens, b.prog.Windows, prog.StartBytes
	if b.opt.OnProgress != nil {
		b.opt.OnProgress(prog) // where this run starts, before the first batch
	}
	units := 0
	for _, hs := range b.hooks {
		units += hs.spec.Width
	}
	if int64(b.opt.Batch)*int64(b.set.Ctx)*int64(units)*4 > lockstepBytes {
		b.lockstep = make(chan struct{}, 1)
	}
	b.lastCk = time.Now()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Unbuffered: the producer runs one batch ahead and no more, so that at
	// most two batches of activations are alive (on an 8B model, 235 MB
	// each for one 128-token window).
	ch := make(chan fwdResult)
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
				if b.prog.Tokens > b.ckTokens {
					if err := b.checkpoint(false); err != nil {
						return err
					}
				}
				return &InterruptedError{Path: b.opt.Out, Tokens: b.prog.Tokens, Err: ctx.Err()}
			}
			break
		}
		if r.err != nil {
			return r.err
		}
		b.res.ForwardTime += r.dur
		t0 := time.Now()
		b.ws.addBatch(r.bt)
		b.update(r.bt, r.acts)
		r.acts = nil // garbage now, while the next batch is computed
		if b.lockstep != nil {
			b.lockstep <- struct{}{}
		}
		b.res.UpdateTime += time.Since(t0)
		b.prog.Cursor = r.next
		b.prog.Tokens += r.bt.tokens
		b.prog.Windows += int64(r.bt.b)
		b.prog.CorpusWindows, b.prog.CorpusTokens = r.corpusWin, r.corpusTok
		sh := int(r.bt.keys[0] >> (posBits + windowBits))
		shardTok[sh] += r.bt.tokens
		shardWin[sh] += int64(r.bt.b)
		for i := range b.meta.Corpus {
			b.meta.Corpus[i].Tokens, b.meta.Corpus[i].Windows = shardTok[i], shardWin[i]
		}
		b.sinceCk++
		if b.opt.OnProgress != nil {
			prog.Tokens, prog.Windows, prog.Bytes = b.prog.Tokens, b.prog.Windows, before[sh]+r.bytes
			b.opt.OnProgress(prog)
		}
		if r.last {
			break
		}
		due := false
		if since := time.Since(b.lastCk); since >= b.opt.CheckpointEvery {
			due = since >= checkpointSpacing*b.nextCost()
		}
		if b.opt.CheckpointBatches > 0 && b.sinceCk >= b.opt.CheckpointBatches {
			due = true
		}
		if due {
			if err := b.checkpoint(false); err != nil {
				return err
			}
		}
	}
	if b.prog.Tokens == 0 && b.opt.Slice.Whole() {
		return ErrEmptyCorpus
	}
	return b.checkpoint(true)
}

func (b *builder) checkpoint(final bool) error {
	t0, c0 := time.Now(), ProcessCPU()
	if final {
		b.meta.Status = StatusComplete
	}
	b.meta.Tokens, b.meta.Windows = b.prog.Tokens, b.prog.Windows
	if err := b.waitWAL(); err != nil {
		return fmt.Errorf("atlas: checkpoint to %s: %w", b.opt.Out, err)
	}
	if err := writeState(b.db, b.meta, b.hooks, b.ws, b.prog, b.m.TokenString, false); err != nil {
		return fmt.Errorf("atlas: checkpoint to %s: %w", b.opt.Out, err)
	}
	if final {
		if _, err := b.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return fmt.Errorf("atlas: checkpoint to %s: %w", b.opt.Out, err)
		}
	} else {
		b.walDone = make(chan error, 1)
		go func(done chan<- error) {
			_, err := b.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			done <- err
		}(b.walDone)
	}
	b.ckCost = time.Since(t0)
	b.ckTokens = b.prog.Tokens
	b.res.CheckpointTime += b.ckCost
	b.res.CheckpointCPU += ProcessCPU() - c0
	b.lastCk = time.Now()
	b.sinceCk = 0
	if b.opt.OnCheckpoint != nil {
		b.opt.OnCheckpoint(b.prog.Tokens, b.prog.Windows)
	}
	return nil
}

// checkpointSpacing is how many times its (predicted) cost a checkpoint
// waits at least after the last: periodic checkpoints then take at most
// 1/40 (2.5%) of a long build however wide the model, which leaves room
// for the final one (every unit's examples rewritten) within 5%. A crash
// loses at most 40 checkpoints' time of work (under two minutes for the
// GPT-2 shape on 2 cores).
const checkpointSpacing = 40

// nextCost predicts the next checkpoint's duration from the last one's,
// scaled by the bytes it will write: the first checkpoint of a build
// writes empty examples, and the next, with every unit's examples new,
// costs far more.
func (b *builder) nextCost() time.Duration {
	if b.ws.written == 0 {
		return b.ckCost
	}
	return time.Duration(float64(b.ckCost) * max(1, float64(pendingBytes(b.hooks))/float64(b.ws.written)))
}

// waitWAL waits for the background WAL checkpoint. The committed
// checkpoint is safe in the WAL either way; a failure here (a full disk)
// would fail the next commit too, and is reported first.
func (b *builder) waitWAL() error {
	if b.walDone == nil {
		return nil
	}
	err := <-b.walDone
	b.walDone = nil
	return err
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
		hs.spillIfNear(bt.tokens)
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
