package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/glia-dev/glia/engine"
)

func init() {
	Register(&Command{Name: "generate", Summary: "generate text (greedy by default), streamed to stdout", Run: runGenerate})
}

func runGenerate(args []string) error {
	fs := newFlags("generate")
	var mf modelFlags
	mf.register(fs)
	prompt := fs.String("prompt", "", "prompt text (BOS added)")
	idsFlag := fs.String("ids", "", `prompt as token ids: "1 403 407"`)
	maxNew := fs.Int("max-new", 64, "tokens to generate")
	temp := fs.Float64("temperature", 0, "sampling temperature (0 = greedy)")
	seed := fs.Uint64("seed", 0, "random seed for sampling")
	stop := fs.Bool("stop-at-eos", false, "stop at the end-of-sequence token")
	asJSON := fs.Bool("json", false, "print the generated ids as one JSON array instead of text")
	noCache := fs.Bool("no-cache", false, "rerun the whole sequence at every step instead of using a KV cache (the same tokens, slower; for checking)")
	var specs stringList
	fs.Var(&specs, "intervene", "clamp or steer while generating: HOOK[pos][units] OP VALUE (repeatable; docs/interventions.md)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *prompt != "" && *idsFlag != "" {
		return usagef("give --prompt or --ids, not both")
	}
	if *maxNew < 1 {
		return usagef("--max-new must be at least 1 (got %d)", *maxNew)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	var ids []int32
	switch {
	case *idsFlag != "":
		seqs, err := parseIDs(*idsFlag)
		if err != nil {
			return err
		}
		if len(seqs) != 1 {
			return fmt.Errorf("--ids: generate takes one sequence")
		}
		ids = seqs[0]
	case *prompt != "":
		if ids, err = encodePrompt(m, *prompt); err != nil {
			return err
		}
	default:
		if m.BOS() < 0 {
			return fmt.Errorf("give --prompt or --ids")
		}
		ids = []int32{m.BOS()}
	}
	ivs, err := interventionsFor(m, specs)
	if err != nil {
		return err
	}
	if ctx := m.Dims().MaxCtx; ctx > 0 && len(ids)+*maxNew > ctx {
		fmt.Fprintf(Stderr, "glia generate: note: the model's context is %d tokens and the prompt has %d: generating at most %d, not %d\n",
			ctx, len(ids), max(ctx-len(ids), 0), *maxNew)
	}
	opts := engine.GenerateOptions{MaxNew: *maxNew, Temperature: *temp, Seed: *seed, StopAtEOS: *stop, Interventions: ivs, NoCache: *noCache}
	stream := !*asJSON && m.Tokenizer != nil
	var printed string
	all := append([]int32(nil), ids...)
	// Streaming needs the tokenizer, so Decode cannot fail there.
	decode := func() string { text, _ := m.Decode(all, true); return text }
	if stream {
		if *prompt != "" {
			fmt.Fprint(Stdout, *prompt)
			printed = decode()
		} else {
			printed = decode()
			fmt.Fprint(Stdout, printed)
		}
		opts.OnToken = func(id int32) {
			// Decode the whole text and print what is new, so multi-byte
			// characters split across tokens come out whole.
			all = append(all, id)
			text := decode()
			if strings.HasPrefix(text, printed) {
				fmt.Fprint(Stdout, text[len(printed):])
				printed = text
			}
		}
	}
	out, err := m.Generate(ids, opts)
	if err != nil {
		if stream {
			fmt.Fprintln(Stdout) // the error starts on its own line
		}
		return err
	}
	if *asJSON {
		if out == nil {
			out = []int32{}
		}
		return json.NewEncoder(Stdout).Encode(out)
	}
	if !stream {
		fmt.Fprintln(Stdout, out)
		return nil
	}
	fmt.Fprintln(Stdout)
	return nil
}
