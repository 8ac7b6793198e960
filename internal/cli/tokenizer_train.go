package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/internal/progress"
	"github.com/glia-dev/glia/tokenizer"
)

func init() {
	Register(&Command{Name: "tokenizer", Summary: "tokenizers: glia tokenizer train (learn byte-level BPE on a corpus)", Run: tokenizerUsage})
	Register(&Command{Name: "tokenizer train", Summary: "learn a byte-level BPE tokenizer (GPT-2 style) on a corpus, written as tokenizer.json", Args: "",
		Help: `Splits the text with GPT-2's pre-tokenizer pattern and merges the most frequent adjacent pair
of byte tokens until the vocabulary holds --vocab tokens (ties: the pair whose bytes sort first).
The file is a Hugging Face tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder) that
glia and Hugging Face tokenizers load. See docs/tokenizer.md.`,
		Run: runTokenizerTrain})
}

// tokenizerUsage lists the sub-commands: on stdout for "glia tokenizer", on
// stderr (as flag's -h does) for -h, and as an error for anything else.
func tokenizerUsage(args []string) error {
	w := Stdout
	bad := len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help"
	if len(args) > 0 {
		w = Stderr
	}
	if bad {
		fmt.Fprintf(w, "glia tokenizer: unknown subcommand %q\n\n", args[0])
	}
	fmt.Fprintln(w, `usage: glia tokenizer train --vocab N --corpus PATH [--corpus PATH...] --out tokenizer.json
                            [--special TOKEN...] [--min-frequency 2] [--json]`)
	if bad {
		return errUsage
	}
	return nil
}

func runTokenizerTrain(args []string) error {
	fs := newFlags("tokenizer train")
	var paths, special stringList
	var opt tokenizer.TrainOptions
	var copt corpus.Options
	fs.IntVar(&opt.Vocab, "vocab", 0, "vocabulary size, the 256 byte tokens and the special tokens included")
	fs.Var(&paths, "corpus", "corpus path: a text file, a directory of them, or .jsonl; .gz works (repeatable)")
	fs.Var(&special, "special", `special token, e.g. "<|endoftext|>" (repeatable; ids 0.. in order)`)
	fs.IntVar(&opt.MinFrequency, "min-frequency", 2, "never merge a pair seen fewer times")
	fs.StringVar(&copt.TextField, "text-field", "", "JSON field holding the text in .jsonl files (default text)")
	fs.StringVar(&copt.DocSep, "doc-sep", "", "split plain text files into documents at this string; default: one document per file")
	out := fs.String("out", "", "write the tokenizer.json here")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if opt.Vocab == 0 || len(paths) == 0 || *out == "" {
		return usagef("give --vocab, --corpus and --out")
	}
	opt.Special = special
	start := time.Now()
	shards, err := corpus.Resolve(paths)
	if err != nil {
		return err
	}
	var bytes int64
	for _, sh := range shards {
		bytes += sh.TextBytes()
	}
	bar := progress.New(Stderr, int64(max(opt.Vocab-256-len(special), 0)), "merges")
	bar.Status(fmt.Sprintf("reading %s of text", progress.Human(bytes)))
	opt.Progress = func(done, _ int) { bar.Set(int64(done), 0) }
	tr, err := tokenizer.NewBPETrainer(opt)
	if err != nil {
		return err
	}
	if err := tr.AddShards(shards, copt); err != nil {
		return err
	}
	bar.Status("")
	j, st, err := tr.Train()
	bar.Done()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, j, 0o644); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if *asJSON {
		b, _ := json.Marshal(struct {
			Out string `json:"out"`
			tokenizer.TrainStats
			Seconds float64 `json:"seconds"`
		}{*out, st, secs})
		fmt.Fprintln(Stdout, string(b))
		return nil
	}
	fmt.Fprintf(Stdout, "wrote %s: %d tokens (%d merges) from %d documents, %s of text, %d distinct words, in %.1fs\n",
		*out, st.VocabSize, st.Merges, st.Docs, progress.Human(st.Bytes), st.Words, secs)
	if st.VocabSize < opt.Vocab {
		fmt.Fprintf(Stdout, "note: no pair is seen %d times or more beyond that; the vocabulary is %d, not %d\n", opt.MinFrequency, st.VocabSize, opt.Vocab)
	}
	return nil
}
