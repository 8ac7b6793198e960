package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/sae"
)

// saeEvalRow is one SAE's evaluation as --json prints it.
type saeEvalRow struct {
	Dir          string `json:"dir"`
	Hook         string `json:"hook"`
	HookOut      string `json:"hook_out,omitempty"` // a transcoder's output hook
	Architecture string `json:"architecture"`
	DSAE         int    `json:"d_sae"`
	sae.Metrics
}

func saeEval(args []string) error {
	fs := newFlags("sae eval")
	var mf modelFlags
	mf.noSAE = true
	mf.register(fs)
	var dirs, paths stringList
	fs.Var(&dirs, "sae", "SAE directory (cfg.json, sae_weights.safetensors); repeatable")
	fs.Var(&paths, "corpus", "held-out corpus path (repeatable; default: the embedded stories)")
	docSep := fs.String("doc-sep", "", "split plain-text corpus files into documents at this string (e.g. '<|endoftext|>')")
	ctx := fs.Int("ctx", 128, "tokens per corpus window")
	windows := fs.Int("windows", 8, "windows per forward pass")
	maxTokens := fs.Int64("max-tokens", 20000, "tokens to evaluate on (0: the whole corpus)")
	skip := fs.Int64("skip-tokens", 0, "tokens to pass over first (the part of the corpus used for training)")
	noCE := fs.Bool("no-ce", false, "skip the spliced forward passes (CE-loss and KL scores)")
	asJSON := fs.Bool("json", false, "print JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	paths = append(paths, rest...)
	if len(dirs) == 0 {
		return usagef("missing --sae: give an SAE directory (glia sae train writes them)")
	}
	shards, copt, _, err := saeShards(paths, *docSep)
	if err != nil {
		return err
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	type job struct {
		dir                   string
		s                     *sae.SAE
		ev                    *sae.Eval
		recon, zero, keep     engine.Intervention
		ceSAE, ceZero         float64
		klSAE, klZero, maxDif float64
		model                 *engine.Model // the spliced passes run here (a transcoder is attached to it)
	}
	var jobs []*job
	hookSet := map[string]bool{}
	var hooks []string
	for _, dir := range dirs {
		s, err := sae.Load(dir)
		if err != nil {
			return err
		}
		h := s.Cfg.Metadata.HookName
		if s, err = sae.LoadFor(dir, m.Name, h); err != nil {
			return err
		}
		j := &job{dir: dir, s: s, ev: sae.NewEval(s), model: m}
		if s.Cfg.IsTranscoder() {
			if j.model, err = transcoderEvalJob(m, mf.load, dir, s, &j.recon, &j.zero, &j.keep); err != nil {
				return err
			}
			jobs = append(jobs, j)
			for _, x := range []string{h, s.Cfg.Metadata.HookNameOut} {
				if !hookSet[x] {
					hookSet[x] = true
					hooks = append(hooks, x)
				}
			}
			continue
		}
		if err := sae.Fits(m, s); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		for _, mode := range []struct {
			dst  *engine.Intervention
			mode sae.SpliceMode
			name string
		}{{&j.recon, sae.Reconstruct, "recon"}, {&j.zero, sae.Zero, "zero"}, {&j.keep, sae.KeepError, "keep-error"}} {
			fn, err := s.Splice(mode.mode)
			if err != nil {
				return fmt.Errorf("%s: %w", dir, err)
			}
			*mode.dst = engine.Intervention{Hook: h, Key: "sae:" + mode.name + ":" + dir, Fn: fn}
		}
		jobs = append(jobs, j)
		if !hookSet[h] {
			hookSet[h] = true
			hooks = append(hooks, h)
		}
	}
	vocab := m.Dims().Vocab
	var ceClean float64
	var count int
	var tokens int64
	err = windowBatches(m, shards, copt, *ctx, *windows, corpus.Cursor{}, func(ids [][]int32, _ corpus.Cursor) error {
		n := int64(len(ids) * len(ids[0]))
		if tokens < *skip {
			tokens += n
			return nil
		}
		if *maxTokens > 0 && tokens-*skip >= *maxTokens {
			return io.EOF
		}
		tokens += n
		clean, err := m.Run(engine.Request{IDs: ids, Hooks: hooks, NoLogits: *noCE})
		if err != nil {
			return err
		}
		b, t := len(ids), len(ids[0])
		before := count
		if !*noCE {
			sae.CrossEntropy(clean.Logits.Data, ids, vocab, &ceClean, &count)
		}
		for _, j := range jobs {
			j.ev.AddPairs(clean.Acts[j.s.Cfg.Metadata.HookName].Data, clean.Acts[outHook(j.s)].Data, b*t)
			if *noCE {
				continue
			}
			for _, run := range []struct {
				iv     engine.Intervention
				ce, kl *float64
			}{{j.recon, &j.ceSAE, &j.klSAE}, {j.zero, &j.ceZero, &j.klZero}} {
				r, err := j.model.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{run.iv}})
				if err != nil {
					return err
				}
				c := before
				sae.CrossEntropy(r.Logits.Data, ids, vocab, run.ce, &c)
				sae.KL(clean.Logits.Data, r.Logits.Data, b, t, vocab, run.kl)
			}
			r, err := j.model.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{j.keep}})
			if err != nil {
				return err
			}
			for i, v := range r.Logits.Data {
				j.maxDif = max(j.maxDif, math.Abs(float64(v-clean.Logits.Data[i])))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if tokens <= *skip {
		return fmt.Errorf("the corpus has %d tokens, none after --skip-tokens %d", tokens, *skip)
	}
	var rows []saeEvalRow
	for _, j := range jobs {
		mt := j.ev.Metrics()
		if !*noCE && count > 0 {
			c := float64(count)
			mt.CEClean, mt.CESAE, mt.CEZero = ceClean/c, j.ceSAE/c, j.ceZero/c
			mt.CEScore = (mt.CEZero - mt.CESAE) / (mt.CEZero - mt.CEClean)
			mt.KLSAE, mt.KLZero = j.klSAE/c, j.klZero/c
			mt.KLScore = (mt.KLZero - mt.KLSAE) / mt.KLZero
			mt.SpliceMaxDiff = j.maxDif
		}
		rows = append(rows, saeEvalRow{Dir: j.dir, Hook: j.s.Cfg.Metadata.HookName, HookOut: j.s.Cfg.Metadata.HookNameOut, Architecture: j.s.Cfg.ArchitectureName(), DSAE: j.s.Cfg.DSAE, Metrics: mt})
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(rows)
	}
	fmt.Fprintf(Stdout, "%d tokens of held-out text (%d vectors per SAE)\n", tokens-*skip, rows[0].Vectors)
	fmt.Fprintln(Stdout, "sae\tarch\td_sae\tL0\texplained\tmse\tdead\tdense\tCE clean\tCE sae\tCE zero\tCE score\tKL score\tsplice Δ")
	for _, r := range rows {
		fmt.Fprintf(Stdout, "%s\t%s\t%d\t%.2f\t%.4f\t%.4g\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.1e\n", r.Dir, r.Architecture, r.DSAE, r.L0, r.ExplainedVar,
			r.MSE, r.Dead, r.Dense, r.CEClean, r.CESAE, r.CEZero, r.CEScore, r.KLScore, r.SpliceMaxDiff)
	}
	return nil
}
