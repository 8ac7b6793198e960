package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/progress"
	"github.com/glia-dev/glia/tokenizer"
	"github.com/glia-dev/glia/train"
)

func init() {
	Register(&Command{Name: "train", Summary: "train a small model from scratch (induction, modular addition or a text corpus) into a Hugging Face directory", Run: runTrain,
		Help: `The model comes from --family and its sizes, or from --config (a Hugging Face config.json).
The task is --task induction (random tokens repeated once), --task modadd --p P
(a+b mod P, 30% of pairs, full batch), --corpus PATH with --tokenizer, or
--task mnist --mnist FILE.u8 [--shortcut] with --family cnn or vit (image
classification; docs/vision.md). --out DIR
receives config.json, model.safetensors, generation_config.json, tokenizer.json
(with a tokenizer), checkpoint.safetensors and train_log.jsonl. See docs/train.md.`})
}

// trainLogFile is the run's log in the output directory: one JSON object
// per line, appended to by resumed runs.
const trainLogFile = "train_log.jsonl"

func runTrain(args []string) error {
	fs := newFlags("train")
	family := fs.String("family", "gpt2", "model family: gpt2 or llama; cnn or vit for --task mnist")
	layers := fs.Int("layers", 2, "layers")
	dModel := fs.Int("d-model", 64, "residual width")
	heads := fs.Int("heads", 4, "attention heads (must divide --d-model)")
	dMLP := fs.Int("d-mlp", 0, "MLP width (0: 4·d-model)")
	ctxLen := fs.Int("ctx", 0, "context length the model supports (0: --seq; 3 for modadd)")
	vocab := fs.Int("vocab", 0, "vocabulary size (0: the task's: 64 for induction, p+1 for modadd, the tokenizer's for a corpus)")
	attnOnly := fs.Bool("attn-only", false, "attention-only blocks, no MLP")
	configPath := fs.String("config", "", "a Hugging Face config.json to train instead of --family and the sizes")
	task := fs.String("task", "", "induction, modadd or mnist (default: induction, or the corpus when --corpus is given)")
	mnist := fs.String("mnist", "", "mnist: IDX images FILE.u8 (labels in FILE-labels.u8)")
	shortcut := fs.Bool("shortcut", false, "mnist: a corner mark on every training 7 and on every other test image")
	testImages := fs.Int("test-images", 1000, "mnist: the first N images are the test set")
	patch := fs.Int("patch", 7, "mnist with --family vit: patch side in pixels")
	p := fs.Int("p", 113, "modadd: the modulus")
	trainFrac := fs.Float64("train-frac", 0.3, "modadd: fraction of the p² pairs trained on")
	var paths stringList
	fs.Var(&paths, "corpus", "text corpus: a text file, a directory of them, or .jsonl; .gz works (repeatable)")
	tokPath := fs.String("tokenizer", "", "with --corpus: a tokenizer.json, or a directory holding one")
	textField := fs.String("text-field", "text", "JSON field holding the text in .jsonl files")
	docSep := fs.String("doc-sep", "", "split plain text files into documents at this string")
	heldOut := fs.Float64("held-out", 0.05, "with --corpus: fraction of windows held out (evenly spaced through the corpus)")
	var evalSets stringList
	fs.Var(&evalSets, "eval", "NAME=PATH: also report the held-out loss on this text under NAME at every evaluation (repeatable; a file, a directory or .jsonl, in the model's tokenizer)")
	lr := fs.Float64("lr", 1e-3, "peak learning rate")
	warmup := fs.Int("warmup", 100, "linear warm-up steps")
	steps := fs.Int("steps", 1000, "optimiser steps")
	batch := fs.Int("batch", 32, "sequences per step (modadd: full batch, ignored)")
	seq := fs.Int("seq", 64, "input tokens per sequence")
	wd := fs.Float64("weight-decay", 0.1, "AdamW weight decay (modadd default 1)")
	decayAll := fs.Bool("decay-all", false, "decay norm gains, biases and embeddings too (modadd default true)")
	beta2 := fs.Float64("beta2", 0.999, "AdamW β₂ (modadd default 0.98)")
	clip := fs.Float64("clip", 1, "global gradient-norm clip (0: off)")
	minLR := fs.Float64("min-lr-frac", 0.1, "the cosine decays to lr·this (modadd default 1: constant)")
	seed := fs.Uint64("seed", 0, "seed for the initial weights and the data")
	evalEvery := fs.Int("eval-every", 100, "held-out evaluation every N steps")
	ckptEvery := fs.Int("checkpoint-every", 500, "checkpoint every N steps")
	logEvery := fs.Int("log-every", 0, "log a step line every N steps (0: steps/100)")
	out := fs.String("out", "", "output model directory (required)")
	resume := fs.Bool("resume", false, "continue the run checkpointed in --out")
	asJSON := fs.Bool("json", false, "JSON log lines on stdout instead of the progress bar")
	var mf modelFlags
	fs.StringVar(&mf.device, "device", "", "cpu or cuda (default: $GOMLX_BACKEND, else cpu)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	if *task == "" {
		*task = "induction"
		if len(paths) > 0 {
			*task = "corpus"
		}
	}
	if len(paths) > 0 && *task != "corpus" {
		return usagef("--corpus trains on text; it does not combine with --task %s", *task)
	}
	if *task == "modadd" {
		// The grokking set-up (Nanda et al.): AdamW with weight decay 1 on
		// every weight, β₂ 0.98, a short warm-up, then a constant rate.
		for name, set := range map[string]func(){
			"weight-decay": func() { *wd = 1 }, "decay-all": func() { *decayAll = true },
			"beta2": func() { *beta2 = 0.98 }, "warmup": func() { *warmup = 10 }, "min-lr-frac": func() { *minLR = 1 },
		} {
			if !isSet(fs, name) {
				set()
			}
		}
	}
	if err := mf.setDevice(); err != nil {
		return err
	}
	if b := os.Getenv("GOMLX_BACKEND"); b == "" || b == "go" {
		// Independent ops side by side, unless $GOMLX_BACKEND names options
		// (engine.ParallelOps says why it is safe and what it gains).
		be, err := engine.Backend()
		if err != nil {
			return fmt.Errorf("train: backend: %w", err)
		}
		if err := engine.ParallelOps(be); err != nil {
			return err
		}
	}
	spec := train.Spec{Family: *family, Layers: *layers, DModel: *dModel, Heads: *heads, DMLP: *dMLP, Ctx: *ctxLen, Vocab: *vocab, AttnOnly: *attnOnly, BOS: -1, EOS: -1}
	run := map[string]any{"task": *task, "batch": *batch, "seq": *seq}
	var tk train.Task
	var tokJSON string
	var tok *tokenizer.Tokenizer
	var img *imageRun
	switch *task {
	case "induction":
		if spec.Vocab == 0 {
			spec.Vocab = 64
		}
		tk = &train.Induction{Seed: *seed, Batch: *batch, Seq: *seq, VocabSize: spec.Vocab}
		spec.BOS = 0
	case "modadd":
		m, err := train.NewModAdd(*p, *seed, *trainFrac)
		if err != nil {
			return err
		}
		tk, *seq = m, 3
		run = map[string]any{"task": *task, "p": *p, "train_frac": *trainFrac}
		if spec.Vocab == 0 {
			spec.Vocab = *p + 1
		}
	case "corpus":
		if len(paths) == 0 {
			return usagef("--task corpus needs --corpus PATH")
		}
		if *tokPath == "" {
			return usagef("--corpus needs --tokenizer (a tokenizer.json, or a model directory holding one)")
		}
		t, file, err := openTokenizer(*tokPath)
		if err != nil {
			return err
		}
		tok, tokJSON = t, file
		shards, err := corpus.Resolve(paths)
		if err != nil {
			return err
		}
		copt := corpus.Options{TextField: *textField, DocSep: *docSep}
		if spec.Vocab == 0 {
			spec.Vocab = tok.VocabSize()
		}
		c, err := train.NewCorpus(shards, copt, encoder(tok), tok.BOS(), tok.VocabSize(), *seq, *batch, *seed, *heldOut)
		if err != nil {
			return err
		}
		tk = c
		spec.BOS, spec.EOS = tok.BOS(), tok.EOS()
		hashes := make([]string, len(shards))
		for i, s := range shards {
			hashes[i] = s.Hash
		}
		run["corpus"], run["tokenizer"], run["held_out"] = hashes, *tokPath, *heldOut
	case "mnist":
		if *mnist == "" {
			return usagef("--task mnist needs --mnist FILE.u8")
		}
		fam := *family
		if !isSet(fs, "family") {
			fam = "cnn"
		}
		var err error
		img, err = newImageRun(*mnist, fam, *shortcut, *testImages, *batch, *seed, *layers, *dModel, *heads, *dMLP, *patch)
		if err != nil {
			return err
		}
		tk = img.task
		run = map[string]any{"task": *task, "batch": *batch, "shortcut": *shortcut, "test_images": *testImages}
	default:
		return usagef("unknown --task %q (want induction, modadd, mnist, or --corpus PATH)", *task)
	}
	if spec.Ctx == 0 {
		spec.Ctx = *seq
	}
	sets, err := evalSetsOf(evalSets, tok, tk, corpus.Options{TextField: *textField, DocSep: *docSep}, *seq, *batch)
	if err != nil {
		return err
	}
	var config map[string]any
	if *configPath != "" {
		for _, f := range []string{"family", "layers", "d-model", "heads", "d-mlp", "ctx", "vocab", "attn-only"} {
			if isSet(fs, f) {
				return usagef("--config gives the model; --%s does not combine with it", f)
			}
		}
		config, err = train.ReadConfig(*configPath)
	} else if img != nil {
		config = img.config
	} else {
		config, err = spec.Config()
	}
	if err != nil {
		return err
	}

	h := train.DefaultHyper()
	h.LR, h.Warmup, h.Steps, h.WeightDecay, h.Clip, h.Beta2, h.DecayAll, h.MinLRFrac = *lr, *warmup, *steps, *wd, *clip, *beta2, *decayAll, *minLR
	every := *logEvery
	if every <= 0 {
		every = max(1, *steps/100)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(*out, trainLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logs := []io.Writer{logFile}
	if *asJSON {
		logs = append(logs, Stdout)
	}
	emit := func(v any) {
		b, _ := json.Marshal(v)
		for _, w := range logs {
			w.Write(append(b, '\n'))
		}
	}
	emit(map[string]any{"event": "start", "time": time.Now().UTC().Format(time.RFC3339), "args": args, "config": config, "run": run, "seed": *seed, "resume": *resume, "task": tk.Describe()})
	bar := newTrainBar(Stderr, *asJSON, int64(*steps))
	opt := train.Options{Hyper: h, Seed: *seed, Out: *out, Resume: *resume, EvalEvery: *evalEvery, CheckpointEvery: *ckptEvery,
		Tokenizer: tokJSON, EvalSets: sets, Run: run, Log: func(e train.Event) {
			if e.Kind != "step" || e.Step%every == 0 || e.Step == e.Steps {
				emit(e)
			}
			bar.update(e)
		}}
	if !*asJSON {
		fmt.Fprintf(Stderr, "training %s (%s) on %s\n", config["model_type"], paramSummary(config), tk.Describe())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train.Run(ctx, config, tk, opt)
	bar.done()
	if err != nil {
		emit(map[string]any{"event": "error", "error": err.Error()})
		return err
	}
	if res.Dir == "" {
		return nil
	}
	summary := map[string]any{"event": "summary", "out": res.Dir, "steps": res.Steps, "loss": res.Loss, "eval_loss": res.Eval.Loss, "eval_accuracy": res.Eval.Accuracy,
		"steps_per_s": res.StepsPerSec, "tokens_per_s": res.TokensPerSec, "params": res.Trainer.Model.NumParams()}
	if len(res.Sets) > 0 {
		summary["eval_sets"] = res.Sets
		if !*asJSON {
			printEvalSets(Stdout, sets, res.Sets)
		}
	}
	// The known answers, measured on the model as written.
	switch tk := tk.(type) {
	case *train.Induction:
		m, err := engine.Load(res.Dir)
		if err != nil {
			return err
		}
		s, err := train.InductionScores(m, tk)
		if err != nil {
			return err
		}
		summary["induction_score"], summary["prev_token_score"] = s.Induction, s.PrevToken
		if !*asJSON {
			printHeadScores(Stdout, s)
		}
	case *train.ModAdd:
		m, err := engine.Load(res.Dir)
		if err != nil {
			return err
		}
		f, err := train.EmbeddingFourier(m, tk.P)
		if err != nil {
			return err
		}
		summary["fourier_top5"], summary["fourier_top"] = f.Top5, f.Top[:min(5, len(f.Top))]
		if !*asJSON {
			fmt.Fprintf(Stdout, "embedding: %.1f%% of its power in the five strongest frequencies %v\n", 100*f.Top5, f.Top[:min(5, len(f.Top))])
		}
	}
	if img != nil {
		if err := img.finish(res.Dir, summary, *asJSON); err != nil {
			return err
		}
	}
	emit(summary)
	if !*asJSON {
		fmt.Fprintf(Stdout, "wrote %s: %d steps, loss %.4f, held-out loss %.4f, accuracy %.2f%% (%.1f steps/s, %s tokens/s)\n",
			res.Dir, res.Steps, res.Loss, res.Eval.Loss, 100*res.Eval.Accuracy, res.StepsPerSec, progress.Human(int64(res.TokensPerSec)))
	}
	return nil
}

// encoder tokenizes text without special tokens, as the packer wants it.
func encoder(tok *tokenizer.Tokenizer) func(string) []int32 {
	return func(s string) []int32 {
		ids := tok.Encode(s, false)
		out := make([]int32, len(ids))
		for i, id := range ids {
			out[i] = int32(id)
		}
		return out
	}
}

// evalSetsOf packs each --eval NAME=PATH with the run's tokenizer: the
// corpus's, or the built-in task's own (whose texts are its ids as numbers).
func evalSetsOf(specs []string, tok *tokenizer.Tokenizer, tk train.Task, opt corpus.Options, seq, batch int) ([]train.EvalSet, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if tok == nil {
		v, ok := tk.(train.Vocabulary)
		if !ok {
			return nil, usagef("--eval needs a tokenizer: this task has none")
		}
		var err error
		if tok, err = tokenizer.FromJSON(v.TokenizerJSON()); err != nil {
			return nil, err
		}
	}
	var sets []train.EvalSet
	seen := map[string]bool{}
	for _, s := range specs {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			return nil, usagef("--eval %q: want NAME=PATH", s)
		}
		if seen[name] {
			return nil, usagef("--eval: the name %q is given twice", name)
		}
		seen[name] = true
		shards, err := corpus.Resolve([]string{path})
		if err != nil {
			return nil, fmt.Errorf("--eval %s: %w", name, err)
		}
		set, err := train.NewEvalSet(name, shards, opt, encoder(tok), tok.BOS(), seq, batch)
		if err != nil {
			return nil, fmt.Errorf("--eval %s: %w", name, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

func printEvalSets(w io.Writer, sets []train.EvalSet, res map[string]train.EvalResult) {
	fmt.Fprintln(w, "evaluation set        loss  accuracy  positions")
	for _, s := range sets {
		r := res[s.Name]
		fmt.Fprintf(w, "%-18s %7.4f  %7.2f%%  %9d\n", s.Name, r.Loss, 100*r.Accuracy, r.Count)
	}
}

// openTokenizer opens a tokenizer.json, or the one in a model directory,
// and returns the file to copy into the trained model.
func openTokenizer(path string) (*tokenizer.Tokenizer, string, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	tok, err := tokenizer.FromFile(path)
	if err != nil {
		return nil, "", err
	}
	return tok, path, nil
}

func paramSummary(c map[string]any) string {
	var parts []string
	for _, k := range []string{"n_layer", "num_hidden_layers", "n_embd", "hidden_size", "n_head", "num_attention_heads", "n_inner", "intermediate_size", "vocab_size", "image_size", "patch_size"} {
		if v, ok := c[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if c["attn_only"] == true {
		parts = append(parts, "attention-only")
	}
	return strings.Join(parts, " ")
}

func printHeadScores(w io.Writer, s train.HeadScores) {
	fmt.Fprintln(w, "layer head  induction  prev-token")
	for l := range s.Induction {
		for h := range s.Induction[l] {
			fmt.Fprintf(w, "%5d %4d  %9.3f  %10.3f\n", l, h, s.Induction[l][h], s.PrevToken[l][h])
		}
	}
}

// trainBar is a one-line progress display: steps, tokens/s, ETA, and the
// latest training and held-out loss. It draws only on a terminal.
type trainBar struct {
	w          io.Writer
	on         bool
	total      int64
	start      time.Time
	last       time.Time
	first      int
	loss, eval float64
}

func newTrainBar(w io.Writer, quiet bool, steps int64) *trainBar {
	return &trainBar{w: w, on: !quiet && progress.IsTerminal(w), total: steps, start: time.Now(), first: -1}
}

func (b *trainBar) update(e train.Event) {
	switch e.Kind {
	case "step":
		b.loss = e.Loss
		if b.first < 0 {
			b.first = e.Step - 1
		}
	case "eval":
		b.eval = e.EvalLoss
		if b.on {
			fmt.Fprintf(b.w, "\r\x1b[Kstep %d/%d  loss %.4f  held-out %.4f  accuracy %.2f%%\n", e.Step, e.Steps, b.loss, e.EvalLoss, 100*e.EvalAccuracy)
		}
	}
	if !b.on || time.Since(b.last) < 100*time.Millisecond && e.Step < e.Steps {
		return
	}
	b.last = time.Now()
	// Rate and ETA over this invocation's steps (a resumed run starts late).
	line := progress.Line(int64(e.Step-max(b.first, 0)), b.total-int64(max(b.first, 0)), "steps", time.Since(b.start))
	fmt.Fprintf(b.w, "\r%s  %s tokens/s  loss %.4f", line, progress.Human(int64(e.TokensPerSec)), b.loss)
	if b.eval > 0 {
		fmt.Fprintf(b.w, "  held-out %.4f", b.eval)
	}
	fmt.Fprint(b.w, "\x1b[K")
}

func (b *trainBar) done() {
	if b.on {
		fmt.Fprintln(b.w)
	}
}
