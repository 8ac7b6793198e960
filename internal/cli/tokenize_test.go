package cli

import (
	"bytes"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	oldIn, oldOut, oldErr := Stdin, Stdout, Stderr
	defer func() { Stdin, Stdout, Stderr = oldIn, oldOut, oldErr }()
	var out, errb bytes.Buffer
	Stdin, Stdout, Stderr = strings.NewReader(stdin), &out, &errb
	code := Main(args)
	return out.String(), errb.String(), code
}

func TestTokenizeEmbedded(t *testing.T) {
	out, errs, code := runCLI(t, "Once upon a time, there was\n\nhi\n", "tokenize", "--add-special")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := "[1,403,407,261,378,432,383,286]\n[1]\n"
	if !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 3 {
		t.Errorf("stdout = %q, want prefix %q and 3 lines", out, want)
	}
	out, errs, code = runCLI(t, `"Once upon a time,\nthere was"`+"\n", "tokenize", "--json-in")
	if code != 0 || !strings.HasPrefix(out, "[403,407,261,378,") {
		t.Errorf("--json-in: exit %d stdout %q stderr %q", code, out, errs)
	}
	out, errs, code = runCLI(t, "[1,403,407,261,378,432,383,286]\n", "detokenize", "--skip-special")
	if code != 0 || out != "Once upon a time, there was\n" {
		t.Errorf("detokenize: exit %d stdout %q stderr %q", code, out, errs)
	}
	out, _, code = runCLI(t, "[403,13,403]\n", "detokenize", "--json-out")
	if code != 0 || out != "\"Once\\n Once\"\n" {
		t.Errorf("detokenize --json-out: exit %d stdout %q", code, out)
	}
}

func TestTokenizeFiles(t *testing.T) {
	out, errs, code := runCLI(t, "Hello world\n<s>x\n", "tokenize", "--tokenizer", "../../testdata/tokenizer/llama2.json.gz", "--add-special")
	if code != 0 || out != "[1,22557,1526]\n[1,1,1318]\n" {
		t.Errorf("llama2: exit %d stdout %q stderr %q", code, out, errs)
	}
	out, errs, code = runCLI(t, "[1,22557,1526]\n", "detokenize", "--tokenizer", "../../testdata/tokenizer/llama2.json.gz")
	if code != 0 || out != "<s> Hello world\n" {
		t.Errorf("llama2 detokenize: exit %d stdout %q stderr %q", code, out, errs)
	}
	out, errs, code = runCLI(t, "x\n", "tokenize", "--model", "../../assets/models/stories260K/stories260K.bin")
	if code != 0 || !strings.HasPrefix(out, "[") {
		t.Errorf("--model .bin: exit %d stdout %q stderr %q", code, out, errs)
	}
	out2, errs, code := runCLI(t, "x\n", "tokenize", "--model", "../../assets/models/stories260K")
	if code != 0 || out2 != out {
		t.Errorf("--model dir: exit %d stdout %q (want %q) stderr %q", code, out2, out, errs)
	}
	// The GGUF's embedded vocabulary encodes like run.c on ordinary text.
	out, errs, code = runCLI(t, "Once upon a time, there was\nLily was sad 123 😀\n", "tokenize", "--add-special",
		"--model", "../../assets/models/stories260K/stories260K.gguf")
	if code != 0 || out != "[1,403,407,261,378,432,383,286]\n[1,317,286,296,418,410,475,479,472,410,243,162,155,131]\n" {
		t.Errorf("--model .gguf: exit %d stdout %q stderr %q", code, out, errs)
	}
	_, errs, code = runCLI(t, "x\n", "tokenize", "--tokenizer", "/nonexistent/tokenizer.json")
	if code != 1 || !strings.Contains(errs, "nonexistent") {
		t.Errorf("missing file: exit %d stderr %q", code, errs)
	}
	_, errs, code = runCLI(t, "[1, 99999]\n", "detokenize")
	if code != 1 || !strings.Contains(errs, "out of range") {
		t.Errorf("bad id: exit %d stderr %q", code, errs)
	}
}

// TestDetokenizeOneLine: a text holding a newline stays on its input's line,
// escaped; --raw prints it as decoded.
func TestDetokenizeOneLine(t *testing.T) {
	out, errs, code := runCLI(t, "[13,403,407]\n[403]\n", "detokenize")
	if code != 0 || out != "\\n Once upon\nOnce\n" {
		t.Errorf("detokenize: exit %d stdout %q stderr %q", code, out, errs)
	}
	out, _, _ = runCLI(t, "[13,403,407]\n", "detokenize", "--raw")
	if out != "\n Once upon\n" {
		t.Errorf("detokenize --raw: %q", out)
	}
}
