package cli

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/glia-dev/glia/assets"
	"github.com/glia-dev/glia/format/gguf"
	"github.com/glia-dev/glia/tokenizer"
)

func init() {
	Register(&Command{
		Name:    "tokenize",
		Summary: "text (one per line on stdin) to token ids (one JSON array per line)",
		Help:    "Prints one JSON array of token ids per input line. Without --model or --tokenizer it uses the embedded default model's tokenizer.",
		Run:     runTokenize,
	})
	Register(&Command{
		Name:    "detokenize",
		Summary: "token ids (one JSON array per line on stdin) back to text",
		Help:    "Reads one JSON array of token ids per line and prints the decoded text, one per line.",
		Run:     runDetokenize,
	})
}

type tokFlags struct {
	model, tokFile string
}

func (f *tokFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&f.model, "model", "", "model: a directory, a llama2.c .bin or a .gguf (its tokenizer is found beside or inside it)")
	fs.StringVar(&f.tokFile, "tokenizer", "", "tokenizer file: tokenizer.json(.gz), llama2.c tokenizer.bin, vocab.json (merges.txt beside it) or a directory")
}

func (f *tokFlags) load() (*tokenizer.Tokenizer, error) {
	switch {
	case f.model != "" && f.tokFile != "":
		return nil, fmt.Errorf("give --model or --tokenizer, not both: %w", errUsage)
	case f.tokFile != "":
		return tokenizerFromPath(f.tokFile)
	case f.model != "":
		return modelTokenizer(f.model)
	}
	return embeddedTokenizer()
}

// embeddedTokenizer is the default model's tokenizer (stories260K's tok512.bin).
func embeddedTokenizer() (*tokenizer.Tokenizer, error) {
	return tokenizer.FromLlama2CBytes(assets.Stories260KTokenizer, 0)
}

// tokenizerFromPath loads a tokenizer file (or directory) by its kind.
func tokenizerFromPath(p string) (*tokenizer.Tokenizer, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return tokenizer.FromDir(p)
	}
	base := strings.ToLower(filepath.Base(p))
	switch {
	case strings.HasSuffix(base, ".bin"):
		return tokenizer.FromLlama2C(p, 0)
	case strings.HasSuffix(base, ".gguf"):
		return ggufTokenizer(p)
	case base == "vocab.json" || base == "encoder.json":
		dir := filepath.Dir(p)
		for _, m := range []string{"merges.txt", "vocab.bpe"} {
			if _, err := os.Stat(filepath.Join(dir, m)); err == nil {
				return tokenizer.FromGPT2Files(p, filepath.Join(dir, m))
			}
		}
		return nil, fmt.Errorf("%s: no merges.txt or vocab.bpe beside it", p)
	}
	return tokenizer.FromFile(p)
}

// modelTokenizer finds a model's tokenizer: in its directory, beside a
// llama2.c checkpoint, or inside a GGUF file.
func modelTokenizer(m string) (*tokenizer.Tokenizer, error) {
	st, err := os.Stat(m)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return tokenizer.FromDir(m)
	}
	switch strings.ToLower(filepath.Ext(m)) {
	case ".gguf":
		return ggufTokenizer(m)
	case ".bin":
		dir := filepath.Dir(m)
		cands, _ := filepath.Glob(filepath.Join(dir, "tok*.bin"))
		for _, c := range append([]string{filepath.Join(dir, "tokenizer.bin")}, cands...) {
			if _, err := os.Stat(c); err == nil {
				return tokenizer.FromLlama2C(c, 0)
			}
		}
		return nil, fmt.Errorf("%s: no tokenizer.bin or tok*.bin beside it: %w", m, os.ErrNotExist)
	}
	return nil, fmt.Errorf("%s: unknown model file type (want a directory, a llama2.c .bin or a .gguf)", m)
}

func ggufTokenizer(p string) (*tokenizer.Tokenizer, error) {
	f, err := gguf.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, err := f.Vocab()
	if err != nil {
		return nil, err
	}
	t, err := tokenizer.FromGGUF(tokenizer.GGUFVocab(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return t, nil
}

// readLines calls f for each line of r without its line ending.
func readLines(r io.Reader, f func(line string, n int) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		if ferr := f(line, n); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func runTokenize(args []string) error {
	fs, tf := tokFlagSet("tokenize")
	addSpecial := fs.Bool("add-special", false, "apply the tokenizer's template (e.g. BOS)")
	jsonIn := fs.Bool("json-in", false, "each input line is a JSON string (for texts with newlines or invalid bytes)")
	buf := make([]byte, 0, 1024)
	return tf.eachLine(fs, args, func(tk *tokenizer.Tokenizer, w *bufio.Writer, line string, n int) error {
		text := line
		if *jsonIn {
			if strings.TrimSpace(line) == "" {
				return nil
			}
			if err := json.Unmarshal([]byte(line), &text); err != nil {
				return fmt.Errorf("stdin line %d: want a JSON string: %v", n, err)
			}
		}
		buf = buf[:0]
		buf = append(buf, '[')
		for i, id := range tk.Encode(text, *addSpecial) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = fmt.Appendf(buf, "%d", id)
		}
		buf = append(buf, ']', '\n')
		_, err := w.Write(buf)
		return err
	})
}

func runDetokenize(args []string) error {
	fs, tf := tokFlagSet("detokenize")
	skip := fs.Bool("skip-special", false, "drop special tokens (BOS, EOS, ...)")
	jsonOut := fs.Bool("json-out", false, "print each text as a JSON string (keeps newlines inside one line)")
	raw := fs.Bool("raw", false, `print texts as decoded: a newline inside a text starts a new output line (default: \n, \r and \\ are escaped, one line per input line)`)
	return tf.eachLine(fs, args, func(tk *tokenizer.Tokenizer, w *bufio.Writer, line string, n int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		var ids []int
		if err := json.Unmarshal([]byte(line), &ids); err != nil {
			return fmt.Errorf("stdin line %d: want a JSON array of ids: %v", n, err)
		}
		for _, id := range ids {
			if id < 0 || id >= tk.VocabSize() {
				return fmt.Errorf("stdin line %d: id %d out of range (vocabulary has %d)", n, id, tk.VocabSize())
			}
		}
		text := tk.Decode(ids, *skip)
		switch {
		case *jsonOut:
			b, _ := json.Marshal(text)
			text = string(b)
		case !*raw:
			text = lineEscaper.Replace(text)
		}
		_, err := fmt.Fprintln(w, text)
		return err
	})
}

// lineEscaper keeps one decoded text on one line, reversibly.
var lineEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)

// tokFlagSet is the flag set of command name with --model and --tokenizer.
func tokFlagSet(name string) (*flag.FlagSet, *tokFlags) {
	fs := newFlags(name)
	tf := new(tokFlags)
	tf.register(fs)
	return fs, tf
}

// eachLine parses args into fs, loads the tokenizer
// and calls each for every stdin line, writing through a buffered Stdout.
func (f *tokFlags) eachLine(fs *flag.FlagSet, args []string, each func(tk *tokenizer.Tokenizer, w *bufio.Writer, line string, n int) error) error {
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	tk, err := f.load()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(Stdout)
	defer w.Flush()
	return readLines(Stdin, func(line string, n int) error { return each(tk, w, line, n) })
}
