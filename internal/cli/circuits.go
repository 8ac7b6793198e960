package cli

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/glia-dev/glia/attribution"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
	"github.com/glia-dev/glia/neuronpath"
	"github.com/glia-dev/glia/train"
)

func init() {
	Register(&Command{Name: "circuits", Summary: "circuits: influential neuron paths, head-to-head path patching sweeps (glia circuits -h)", Run: circuitsUsage})
	Register(&Command{Name: "circuits path", Summary: "influential neuron path (joint attribution, layer by layer) against the top-activation and top-IG paths",
		Help: "One MLP neuron per layer at the target position, chosen layer by layer by the joint attribution score\n" +
			"(20 left-Riemann steps, the authors' code form by default), with its influence: the target's probability\n" +
			"with the path's neurons zeroed, and with only the path's neurons kept. --prompts FILE runs every line\n" +
			"(each for its own most likely next token) and prints the comparison over them.\n" +
			"Image models (ViT): --image FILE.png|FILE.u8:N [--class C] for one image, the neurons at the CLS token\n" +
			"(position 0, as the authors'); --images FILE.u8|DIR [--labels L.u8] [--per-class K] [--n N] compares the\n" +
			"paths over a set, each image for its label. See docs/circuits.md.",
		Run: runCircuitsPath})
	Register(&Command{Name: "circuits heads", Summary: "path patching sweep: every sender head × receiver q/k/v above it; matrix, heat map and JSON",
		Help: "Each cell patches one path alone (PathPatch with one sender and one receiver) and reports the share of the\n" +
			"clean − corrupt metric difference it carries (1 − normalised effect). Pairs from --clean/--corrupt and\n" +
			"--metric, or --induction N: N pairs of the induction task (repeated random tokens; ids only).",
		Run: runCircuitsHeads})
}

func circuitsUsage(args []string) error {
	fmt.Fprintln(Stderr, "usage: glia circuits path|heads [flags]\n\n"+
		"  path   influential neuron path for a prompt and target token, against two baselines\n"+
		"  heads  path patching sweep over sender heads × receiver heads' q/k/v, as a heat map\n\n"+
		"glia circuits CMD -h lists its flags; docs/circuits.md has the definitions.")
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		return nil
	}
	return errUsage
}

func runCircuitsPath(args []string) error {
	fs := newFlags("circuits path")
	var mf modelFlags
	mf.register(fs)
	prompt := fs.String("prompt", "", "text (encoded with the model's tokenizer, BOS added)")
	ids := fs.String("ids", "", `token ids "3 17 42" (instead of --prompt)`)
	prompts := fs.String("prompts", "", "a file of prompts, one a line: run each for its most likely next token and compare the paths over them")
	target := fs.String("target", "", "the target token, as text or #ID (default: the model's most likely token at --pos)")
	pos := fs.Int("pos", -1, "target position (negative counts from the end); image models: the neurons' position (default 0, the CLS token)")
	steps := fs.Int("steps", 20, "left-Riemann steps of the joint attribution")
	form := fs.String("form", "code", "the score the search maximises: code (Σ gradients × Σ step sizes, the authors' code) or paper (per-neuron sum)")
	exact := fs.Int("exact", 0, "rescore each step's K best candidates by their exact joint score (the path and the candidate scaled alone; -1: all) instead of the authors' approximation")
	asJSON := fs.Bool("json", false, "print the JSON result")
	var img imagePathFlags
	img.register(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	given := 0
	for _, s := range []string{*prompt, *ids, *prompts, img.image, img.set} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return usagef(`give one of --prompt TEXT, --ids "1 2 3" or --prompts FILE (text models), --image FILE or --images SET (image models)`)
	}
	if img.image != "" || img.set != "" {
		if *target != "" {
			return usagef("--target is for text models; an image model's target is --class")
		}
		o := neuronpath.Options{Steps: *steps, Form: neuronpath.Form(*form), Exact: *exact, Random: img.random, Seed: img.seed}
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "pos" {
				o.Pos = *pos // else 0: the CLS token
			}
		})
		return img.run(mf, o, *asJSON)
	}
	if *prompts != "" && *target != "" {
		return usagef("--target goes with --prompt or --ids; with --prompts each line is run for its own most likely token")
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	o := neuronpath.Options{Steps: *steps, Form: neuronpath.Form(*form), Pos: *pos, Exact: *exact, Random: img.random, Seed: img.seed}
	if *prompts != "" {
		return pathOverPrompts(m, *prompts, o, *asJSON)
	}
	var f attrFlags
	seq, err := f.readPrompt(m, *prompt, *ids, "")
	if err != nil {
		return err
	}
	t, err := attribution.ParseTarget(m, seq, *pos, *target, "", "")
	if err != nil {
		return err
	}
	r, err := neuronpath.Find(m, seq, t.Token, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(r)
	}
	fmt.Fprintf(Stdout, "%s: target %q (#%d) at position %d %q: probability %.4g (%.4g with every MLP neuron there zeroed)\n",
		m.Name, m.TokenText(r.Token), r.Token, r.Pos, m.TokenText(seq[r.Pos]), r.Prob, r.OffProb)
	fmt.Fprintf(Stdout, "joint attribution: %d left-Riemann steps, search by the %s form%s; %d forwards, %.2fs\n\n", r.Steps, r.Form, exactNote(r.Exact), r.Forwards, r.Seconds)
	fmt.Fprintf(Stdout, "%-11s %-28s %11s %11s %13s %11s\n", "path", "neurons (layer 0 first)", "JAS code", "JAS paper", "deactivated", "kept")
	for _, p := range r.Paths {
		ns := make([]string, len(p.Neurons))
		for i, n := range p.Neurons {
			ns[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(Stdout, "%-11s %-28s %+11.4g %+11.4g %13.4g %11.4g\n", p.Method, strings.Join(ns, " "), p.Code, p.Paper, p.Deactivated, p.Kept)
	}
	return nil
}

func exactNote(k int) string {
	switch {
	case k < 0:
		return ", every candidate rescored exactly"
	case k > 0:
		return fmt.Sprintf(", each step's %d best candidates rescored exactly", k)
	}
	return ""
}

// pathSummary is the comparison of the paths over many prompts.
type pathSummary struct {
	Prompts int                        `json:"prompts"`
	Steps   int                        `json:"steps"`
	Form    neuronpath.Form            `json:"form"`
	Prob    float64                    `json:"mean_prob"`
	OffProb float64                    `json:"mean_prob_all_off"`
	Methods []neuronpath.MethodSummary `json:"methods"`
	Results []*neuronpath.Result       `json:"results"`
	Seconds float64                    `json:"seconds"`
}

func pathOverPrompts(m *engine.Model, file string, o neuronpath.Options, asJSON bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(lines) == 0 {
		return fmt.Errorf("%s has no prompts", file)
	}
	var sum pathSummary
	for i, line := range lines {
		seq, err := encodePrompt(m, line)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", file, i+1, err)
		}
		t, err := attribution.ParseTarget(m, seq, o.Pos, "", "", "")
		if err != nil {
			return fmt.Errorf("%s line %d: %w", file, i+1, err)
		}
		oi := o
		oi.Seed += uint64(i) // each prompt its own random path
		r, err := neuronpath.Find(m, seq, t.Token, oi)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", file, i+1, err)
		}
		sum.Results = append(sum.Results, r)
		sum.Seconds += r.Seconds
	}
	sum.Prompts, sum.Steps, sum.Form = len(lines), sum.Results[0].Steps, sum.Results[0].Form
	if sum.Methods, err = neuronpath.Summarise(sum.Results); err != nil {
		return err
	}
	n := float64(len(lines))
	for _, r := range sum.Results {
		sum.Prob += r.Prob / n
		sum.OffProb += r.OffProb / n
	}
	if asJSON {
		return printJSON(sum)
	}
	fmt.Fprintf(Stdout, "%s: %d prompts, each for its most likely next token; mean probability %.4g (%.4g with every MLP neuron at the position zeroed)\n",
		m.Name, sum.Prompts, sum.Prob, sum.OffProb)
	fmt.Fprintf(Stdout, "joint attribution: %d left-Riemann steps, search by the %s form%s; %.1fs\n\n", sum.Steps, sum.Form, exactNote(sum.Results[0].Exact), sum.Seconds)
	fmt.Fprintf(Stdout, "%-11s %11s %11s %17s %12s %15s %10s\n", "path", "JAS code", "JAS paper", "p deactivated", "p kept", "lowest deact.", "best kept")
	for _, ms := range sum.Methods {
		fmt.Fprintf(Stdout, "%-11s %+11.4g %+11.4g %17.4g %12.4g %15d %10d\n", ms.Method, ms.Code, ms.Paper, ms.Deactivated, ms.Kept, ms.WinsDeactivated, ms.WinsKept)
	}
	return nil
}

func runCircuitsHeads(args []string) error {
	fs := newFlags("circuits heads")
	var mf modelFlags
	mf.register(fs)
	var pf pairFlags
	pf.register(fs)
	induction := fs.Int("induction", 0, "instead of --clean/--corrupt: N pairs of the induction task (random tokens repeated once; the corrupt prompt changes the last token's first occurrence)")
	seed := fs.Uint64("seed", 7, "with --induction: the pairs' seed")
	senders := fs.String("senders", "", "sender heads LAYER.HEAD,... (default: every head of every layer but the last)")
	receivers := fs.String("receivers", "", "receiver inputs LAYER.HEAD[q|k|v],... (no letter: q, k and v; default: every head of every layer but the first)")
	rows := fs.Int("rows", 256, "rows per forward (a forward holds at least one sender with all its receivers)")
	top := fs.Int("top", 10, "how many paths to print")
	out := fs.String("out", "", "write OUT.json, OUT.svg and OUT.png (OUT.json and OUT.png, or OUT.svg, when OUT ends in .png or .svg)")
	asJSON := fs.Bool("json", false, "print the JSON result")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *induction <= 0 {
		if len(pf.clean)+len(pf.cleanIDs)+len(pf.corrupt)+len(pf.corruptIDs) == 0 {
			return usagef("missing the pairs: give --clean TEXT and --corrupt TEXT (or --clean-ids and --corrupt-ids) with --metric logit-diff:A,B, or --induction N")
		}
		if err := pf.check(); err != nil {
			return err
		}
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	var pairs []experiment.Pair
	if *induction > 0 {
		d := m.Dims()
		task := &train.Induction{Seed: *seed, Batch: 1, Seq: 32, VocabSize: d.Vocab} // the committed model's training length
		if d.MaxCtx > 0 {
			task.Seq = min(task.Seq, d.MaxCtx)
		}
		if pairs, err = task.PatchPairs(*induction); err != nil {
			return err
		}
	} else if pairs, err = pf.pairs(m); err != nil {
		return err
	}
	o := experiment.SweepOptions{Rows: *rows}
	if *receivers != "" {
		if o.Receivers, err = experiment.ParseReceivers(*receivers); err != nil {
			return fmt.Errorf("--receivers: %w", err)
		}
	}
	for _, f := range strings.Split(*senders, ",") {
		if f = strings.TrimSpace(f); f != "" {
			h, err := experiment.ParseHead(f)
			if err != nil {
				return fmt.Errorf("--senders: %w", err)
			}
			o.Senders = append(o.Senders, h)
		}
	}
	res, err := experiment.PathSweep(m, pairs, o)
	if err != nil {
		return err
	}
	if *out != "" {
		files, err := writeOutputs(*out, res, res.Grid())
		if err != nil {
			return err
		}
		fmt.Fprintf(Stderr, "wrote %s\n", strings.Join(files, ", "))
	}
	if *asJSON {
		return printJSON(res)
	}
	var gap float64
	for _, p := range res.Pairs {
		gap += (p.Clean - p.Corrupt) / float64(len(res.Pairs))
	}
	fmt.Fprintf(Stdout, "%s: %d senders × %d receiver inputs over %d pairs (mean clean − corrupt metric %.4g); %d forwards, %d graphs, %.2fs\n\n",
		m.Name, len(res.Senders), len(res.Receivers), len(res.Pairs), gap, res.Forwards, res.Graphs, res.Seconds)
	fmt.Fprintf(Stdout, "%-16s %8s\n", "path", "drop")
	for _, c := range res.Top(*top) {
		fmt.Fprintf(Stdout, "%-16s %+8.4f\n", c.Name, c.Drop)
	}
	return nil
}
