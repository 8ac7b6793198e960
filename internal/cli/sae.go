package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	defaultcorpus "github.com/glia-dev/glia/assets/corpus"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/progress"
	"github.com/glia-dev/glia/sae"
)

func init() {
	Register(&Command{Name: "sae", Summary: "sparse autoencoders in SAELens's format: train, eval (glia sae -h)", Run: saeUsage})
	Register(&Command{Name: "sae train", Summary: "train sparse autoencoders on a model's activations over a corpus", Args: "[CORPUS...]", Run: saeTrain})
	Register(&Command{Name: "sae eval", Summary: "evaluate SAEs on a held-out corpus: L0, explained variance, CE-loss and KL scores", Args: "[CORPUS...]", Run: saeEval})
}

// saeUsage prints the group's synopsis to stderr, as every command's -h
// does; an unknown subcommand exits 2.
func saeUsage(args []string) error {
	w := Stderr
	bad := len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help"
	if bad {
		fmt.Fprintf(w, "glia sae: unknown subcommand %q\n\n", args[0])
	}
	fmt.Fprintln(w, `usage: glia sae train|eval|encode|snmf [flags]

Usage:
  glia sae train [--model M] --hook H [--hook H2...] [--arch topk[,jumprelu...]] [--k 32] [--d-sae N]
                 [--corpus PATH...] [--out sae] [--batch 4096] [--buffer 65536] [--steps N] [--max-tokens N]
                 [--checkpoint-every 500] [--resume] [--normalize expected_average_only_in]
                 [--sparsity-loss step|tanh|quadratic] [--ste-to-input] [--pre-act-coef C] [--bandwidth E]
                 [--transcoder [--skip] --hook IN --hook-out OUT]   (IN: blocks.L.ln2.hook_normalized, OUT: blocks.L.hook_mlp_out)
  glia sae eval [--model M] --sae DIR [--sae DIR2...] [--corpus PATH...] [--max-tokens 20000] [--json]
  glia sae encode --sae DIR --in X.safetensors --out Y.safetensors
  glia sae snmf [--model M] --hook H [--rank 32] [--tokens 4096] [--keep 0.1] [--init svd] [--out F.safetensors]

Architectures: standard (ReLU, L1 weighted by decoder norms), topk (+AuxK), batchtopk and
matryoshka_batchtopk (saved as jumprelu), jumprelu (L0 with a straight-through estimator).
Each SAE is a directory SAELens loads: cfg.json, sae_weights.safetensors, sparsity.safetensors.
See docs/dictionaries.md.`)
	if bad {
		return errUsage
	}
	return nil
}

// saeShards resolves corpus paths; none means the embedded story corpus.
// docSep splits plain-text files into documents (each starts with BOS).
func saeShards(paths []string, docSep string) ([]corpus.Shard, corpus.Options, string, error) {
	if len(paths) == 0 {
		sh, err := corpus.FSShard(defaultcorpus.FS(), defaultcorpus.Name)
		return []corpus.Shard{sh}, corpus.Options{DocSep: defaultcorpus.DocSep}, defaultcorpus.Name, err
	}
	sh, err := corpus.Resolve(paths)
	return sh, corpus.Options{DocSep: docSep}, strings.Join(paths, ","), err
}

// windowBatches packs the corpus from a cursor into windows of ctx tokens
// and calls fn with up to n windows of one length at a time, with the
// cursor after the last of them. fn returning io.EOF stops early.
func windowBatches(m *engine.Model, shards []corpus.Shard, copt corpus.Options, ctx, n int, from corpus.Cursor, fn func(ids [][]int32, next corpus.Cursor) error) error {
	if m.Tokenizer == nil {
		return fmt.Errorf("%s has no tokenizer (no tokenizer.json or tokenizer.model beside its weights), so it cannot read a text corpus; give a model with one", m.Name)
	}
	encode := func(s string) []int32 { ids, _ := m.Encode(s, false); return ids }
	p, err := corpus.NewPacker(shards, copt, encode, m.BOS(), ctx, from)
	if err != nil {
		return err
	}
	defer p.Close()
	var ids [][]int32
	var next corpus.Cursor
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		err := fn(ids, next)
		ids = nil
		return err
	}
	for {
		w, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if len(ids) > 0 && len(w.IDs) != len(ids[0]) {
			if err := flush(); err != nil {
				return stopEOF(err)
			}
		}
		ids, next = append(ids, w.IDs), w.Next
		if len(ids) == n {
			if err := flush(); err != nil {
				return stopEOF(err)
			}
		}
	}
	return stopEOF(flush())
}

func stopEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// saeJob is one SAE being trained: a hook, an architecture, a trainer.
type saeJob struct {
	hook, dir string
	tr        *sae.Trainer
	last      sae.StepStats
}

type saeHook struct {
	name  string
	width int // values per training row (a transcoder's: d_in + d_out)
	// out is a transcoder's output hook, outWidth its d_out
	out      string
	outWidth int
	buf      *sae.Buffer
	jobs     []*saeJob
	steps    int
}

func saeTrain(args []string) error {
	fs := newFlags("sae train")
	var mf modelFlags
	mf.register(fs)
	var hooks, paths stringList
	fs.Var(&hooks, "hook", "hook (or glob) whose activations to train on; repeatable: every hook trains in the same pass")
	fs.Var(&paths, "corpus", "corpus path: a text file, a directory, or .jsonl (repeatable; default: the embedded stories)")
	docSep := fs.String("doc-sep", "", "split plain-text corpus files into documents at this string (e.g. '<|endoftext|>')")
	epochs := fs.Int("epochs", 1, "passes over the corpus")
	archs := fs.String("arch", "topk", "architectures, comma-separated (one SAE each per hook): standard, topk, batchtopk, jumprelu, matryoshka_batchtopk")
	out := fs.String("out", "sae", "output directory: one SAELens directory per SAE, OUT/HOOK (OUT/HOOK.ARCH with several --arch)")
	d := sae.DefaultOptions(sae.TopK, 1, 1)
	dsae := fs.Int("d-sae", 0, "features per SAE (default: --expansion × d_in)")
	expansion := fs.Int("expansion", 8, "d_sae as a multiple of the hook's width when --d-sae is not given")
	fs.IntVar(&d.K, "k", 32, "topk: active features per vector; batchtopk: the mean over a batch")
	fs.Float64Var(&d.L1, "l1", 5, "standard: L1 coefficient")
	fs.Float64Var(&d.L0, "l0", 1, "jumprelu: L0 coefficient")
	fs.IntVar(&d.CoefWarmup, "coef-warmup", 0, "steps over which the L1/L0 coefficient ramps up from 0")
	fs.Float64Var(&d.Bandwidth, "bandwidth", d.Bandwidth, "jumprelu: straight-through estimator bandwidth")
	fs.Float64Var(&d.InitThreshold, "init-threshold", d.InitThreshold, "jumprelu: initial threshold")
	fs.StringVar(&d.SparsityLoss, "sparsity-loss", d.SparsityLoss, "jumprelu: step (DeepMind's L0), tanh (Anthropic's) or quadratic (around --target-l0)")
	fs.Float64Var(&d.TanhScale, "tanh-scale", d.TanhScale, "jumprelu: the tanh sparsity loss's scale")
	fs.Float64Var(&d.TargetL0, "target-l0", 0, "jumprelu: the quadratic sparsity loss's target L0")
	fs.Float64Var(&d.PreActCoef, "pre-act-coef", 0, "jumprelu: coefficient of the pre-activation loss that pulls dead features back to their threshold (0: none)")
	fs.BoolVar(&d.STEToInput, "ste-to-input", false, "jumprelu: the straight-through estimate also trains the encoder (Anthropic), not only the threshold")
	fs.StringVar(&d.Normalize, "normalize", d.Normalize, "training normalisation: none or expected_average_only_in (scale so E‖x‖ = √d_in, folded into the saved weights)")
	fs.IntVar(&d.NormBatches, "norm-batches", d.NormBatches, "expected_average_only_in: batches spent estimating the scale")
	fs.Float64Var(&d.AuxKCoef, "aux-coef", d.AuxKCoef, "topk family: AuxK loss coefficient")
	fs.IntVar(&d.DeadWindow, "dead-window", d.DeadWindow, "steps without firing after which a feature counts as dead")
	fs.IntVar(&d.ResampleEvery, "resample-every", 0, "re-initialise dead features from badly reconstructed inputs every this many steps (Anthropic's resampling; 0: never)")
	widths := fs.String("widths", "", "matryoshka: prefix widths, comma-separated (d_sae is added as the last)")
	fs.Float64Var(&d.Hyper.LR, "lr", d.Hyper.LR, "Adam learning rate (constant after warm-up, as SAELens's default)")
	fs.IntVar(&d.Hyper.Warmup, "lr-warmup", 0, "learning-rate warm-up steps")
	fs.Uint64Var(&d.Seed, "seed", 1, "initialisation and shuffling seed")
	batch := fs.Int("batch", 4096, "activation vectors per training step")
	bufSize := fs.Int("buffer", 65536, "shuffle buffer size in vectors per hook (memory: buffer × d_in × 4 bytes)")
	ctx := fs.Int("ctx", 128, "tokens per corpus window")
	windows := fs.Int("windows", 16, "windows per forward pass")
	steps := fs.Int("steps", 0, "stop after this many steps (0: when the corpus or --max-tokens ends)")
	maxTokens := fs.Int64("max-tokens", 0, "stop after this many tokens (0: the whole corpus)")
	every := fs.Int("checkpoint-every", 500, "steps between checkpoints (0: none)")
	logEvery := fs.Int("log-every", 50, "steps between progress lines")
	resume := fs.Bool("resume", false, "continue from the checkpoints in --out")
	var tc transcoderFlags
	tc.register(fs)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	paths = append(paths, rest...)
	if len(hooks) == 0 {
		return usagef("missing --hook: give the hook to train on (e.g. --hook blocks.2.hook_resid_post)")
	}
	if strings.EqualFold(mf.device, "cuda") || strings.EqualFold(mf.device, "gpu") {
		return fmt.Errorf("--device %s: SAE training runs on the CPU in this version (its step is hand-written Go over glia's sgemm); run without --device", mf.device)
	}
	if *batch <= 0 || *bufSize < *batch || *ctx <= 0 || *windows <= 0 {
		return usagef("--batch (%d) must be positive and at most --buffer (%d); --ctx and --windows positive", *batch, *bufSize)
	}
	if *widths != "" {
		for _, f := range strings.Split(*widths, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return usagef("--widths: %q is not an integer", f)
			}
			d.Widths = append(d.Widths, v)
		}
	}
	d.Hyper.Steps = max(*steps, 1)
	shards, copt, dataset, err := saeShards(paths, *docSep)
	if err != nil {
		return err
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	names, outs, err := tc.hooks(m, hooks)
	if err != nil {
		return err
	}
	archList := strings.Split(*archs, ",")
	var hs []*saeHook
	var cursor corpus.Cursor
	var tokens int64
	var resumeEpoch string
	for i, name := range names {
		width, err := sae.HookWidth(m, name)
		if err != nil {
			return err
		}
		h := &saeHook{name: name}
		o0 := d
		if err := tc.transcoderOut(m, outs, i, h, &o0); err != nil {
			return err
		}
		h.width = width + h.outWidth
		if h.buf, err = sae.NewBuffer(h.width, *bufSize, d.Seed+uint64(i)); err != nil {
			return err
		}
		for _, a := range archList {
			o := o0
			o.Arch, o.DIn, o.DSAE = strings.TrimSpace(a), width, *dsae
			if o.DSAE == 0 {
				o.DSAE = *expansion * width
			}
			dir := filepath.Join(*out, name)
			if len(archList) > 1 {
				dir += "." + o.Arch
			}
			job := &saeJob{hook: name, dir: dir}
			ck := filepath.Join(dir, "checkpoint.safetensors")
			if *resume {
				tr, extra, err := sae.ResumeTrainer(ck)
				if err != nil {
					return fmt.Errorf("--resume: %w", err)
				}
				job.tr = tr
				resumeEpoch = extra["epoch"]
				if err := json.Unmarshal([]byte(extra["cursor"]), &cursor); err != nil {
					return fmt.Errorf("--resume: %s has no corpus cursor: %w", ck, err)
				}
				tokens, _ = strconv.ParseInt(extra["tokens"], 10, 64)
				h.steps = tr.Step
			} else {
				if _, err := os.Stat(ck); err == nil {
					return fmt.Errorf("%s exists: pass --resume to continue that run, or choose another --out", ck)
				}
				if job.tr, err = sae.NewTrainer(o); err != nil {
					return err
				}
			}
			h.jobs = append(h.jobs, job)
		}
		hs = append(hs, h)
	}
	// pending[i] holds hook i's vectors read from the model but not yet in
	// its buffer; a checkpoint saves them with the buffer, so a resumed run
	// draws the same batches as an uninterrupted one.
	pending := make([][]float32, len(hs))
	bufPath := func(h *saeHook) string { return filepath.Join(*out, h.name+".buffer.safetensors") }
	if *resume {
		note := ""
		for i, h := range hs {
			p, err := h.buf.Load(bufPath(h))
			if errors.Is(err, os.ErrNotExist) {
				note = " (no saved shuffle buffer: it starts empty)"
				continue
			}
			if err != nil {
				return fmt.Errorf("--resume: %w", err)
			}
			pending[i] = p
		}
		fmt.Fprintf(Stderr, "resuming at step %d, %d tokens in%s\n", hs[0].steps, tokens, note)
	}
	start := time.Now()
	startTokens := tokens
	epoch := 0
	if *resume {
		epoch, _ = strconv.Atoi(resumeEpoch)
	}
	x := make([]float32, 0)
	checkpoint := func(next corpus.Cursor) error {
		cur, _ := json.Marshal(next)
		for _, h := range hs {
			for _, j := range h.jobs {
				if err := os.MkdirAll(j.dir, 0o755); err != nil {
					return err
				}
				if err := j.tr.SaveCheckpoint(filepath.Join(j.dir, "checkpoint.safetensors"), map[string]string{"cursor": string(cur), "tokens": strconv.FormatInt(tokens, 10), "epoch": strconv.Itoa(epoch)}); err != nil {
					return err
				}
			}
		}
		for i, h := range hs {
			if err := h.buf.Save(bufPath(h), pending[i]); err != nil {
				return err
			}
		}
		return nil
	}
	atLimit := func(h *saeHook) bool { return *steps > 0 && h.steps >= *steps }
	done := func() bool {
		if *maxTokens > 0 && tokens >= *maxTokens {
			return true
		}
		if *steps > 0 {
			for _, h := range hs {
				if !atLimit(h) {
					return false
				}
			}
			return true
		}
		return false
	}
	// step trains every SAE of h on one batch from its buffer.
	step := func(h *saeHook, next corpus.Cursor) error {
		if cap(x) < *batch*h.width {
			x = make([]float32, *batch*h.width)
		}
		xb := x[:*batch*h.width]
		h.buf.Take(xb, *batch)
		estimating := false
		for _, j := range h.jobs {
			st, err := j.tr.TrainStep(xb, *batch)
			if err != nil {
				return fmt.Errorf("%s (%s): %w", j.hook, j.tr.Opt.Arch, err)
			}
			if st.Estimating {
				estimating = true // a batch spent on the normalisation estimate
				continue
			}
			j.last = st
		}
		if estimating {
			return nil
		}
		h.steps++
		if *logEvery > 0 && h.steps%*logEvery == 0 {
			el := time.Since(start).Seconds()
			for _, j := range h.jobs {
				st := j.last
				fmt.Fprintf(Stderr, "step %d  %s tokens (%.0f/s)  %s %s: loss %.4g mse %.4g L0 %.1f explained %.3f dead %.1f%%\n",
					h.steps, progress.Human(tokens), float64(tokens-startTokens)/max(el, 1e-9), j.hook, j.tr.Opt.Arch, st.Loss, st.MSE, st.L0, st.ExplainedVar,
					100*float64(st.Dead)/float64(j.tr.Opt.DSAE))
			}
		}
		if *every > 0 && h == hs[len(hs)-1] && h.steps%*every == 0 {
			return checkpoint(next)
		}
		return nil
	}
	// feed moves hook i's pending vectors into its buffer, stepping each time
	// it is full, until they are in or the hook is at --steps.
	feed := func(i int, next corpus.Cursor) error {
		h := hs[i]
		for {
			for h.buf.Len() == h.buf.Cap {
				if atLimit(h) {
					return nil
				}
				if err := step(h, next); err != nil {
					return err
				}
			}
			if len(pending[i]) == 0 {
				return nil
			}
			pending[i] = pending[i][h.buf.Add(pending[i])*h.width:]
		}
	}
	for i := range hs { // a resumed run's pending vectors come first
		if err := feed(i, cursor); err != nil {
			return err
		}
	}
	last := cursor
	var stopped bool
	// epoch only advances after a pass ends, so a checkpoint's epoch is
	// that of its cursor.
	for epoch < *epochs {
		from := cursor
		cursor = corpus.Cursor{}
		err = windowBatches(m, shards, copt, *ctx, *windows, from, func(ids [][]int32, next corpus.Cursor) error {
			res, err := m.Run(engine.Request{IDs: ids, Hooks: append(slices.Clone(names), outs...), NoLogits: true})
			if err != nil {
				return err
			}
			tokens += int64(len(ids) * len(ids[0]))
			last = next
			for i, h := range hs {
				a, err := h.vectors(res)
				if err != nil {
					return err
				}
				// Appended: a hook at --steps keeps what it could not take
				// (hooks step in lockstep, so this is at most one pass).
				pending[i] = append(pending[i], a...)
				if err := feed(i, next); err != nil {
					return err
				}
			}
			if done() {
				stopped = true
				return io.EOF
			}
			return nil
		})
		if err != nil {
			return err
		}
		if stopped {
			break
		}
		epoch++
	}
	// Drain what is left in the buffers.
	for _, h := range hs {
		for h.buf.Len() >= *batch && !atLimit(h) && !done() {
			if err := step(h, last); err != nil {
				return err
			}
		}
	}
	if err := checkpoint(last); err != nil {
		return err
	}
	for _, h := range hs {
		for _, j := range h.jobs {
			s := j.tr.SAE(sae.Metadata{ModelName: m.Name, HookName: j.hook, HookNameOut: h.out, PrependBOS: m.BOS() >= 0, ContextSize: *ctx, DatasetPath: dataset})
			if err := s.Save(j.dir); err != nil {
				return err
			}
			st := j.last
			fmt.Fprintf(Stdout, "wrote %s: %s, d_in %d, d_sae %d, %d steps over %d tokens; last batch: L0 %.1f, explained variance %.3f, dead %d\n",
				j.dir, s.Cfg.ArchitectureName(), j.tr.Opt.DIn, j.tr.Opt.DSAE, j.tr.Step, tokens, st.L0, st.ExplainedVar, j.tr.Dead())
		}
	}
	return nil
}
