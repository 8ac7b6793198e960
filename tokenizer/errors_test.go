package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadJSON(t *testing.T) {
	const okModel = `"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}`
	cases := []struct{ json, want string }{
		{`{`, "tokenizer.json"},
		{`{"normalizer": null}`, "model"},
		{`{"model": {"type": "Unigram", "vocab": []}}`, `model.type: unsupported model "Unigram"`},
		{`{"model": {"type": "BPE", "vocab": [1]}}`, "model.vocab"},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]}}`, "model.merges[0]"},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ac"]}}`, "model.merges[0]"},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "unk_token": "<unk>"}}`, "model.unk_token"},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "dropout": 0.1}}`, "model.dropout"},
		{`{"pre_tokenizer": {"type": "Nonesuch"}, ` + okModel + `}`, `pre_tokenizer.type: unsupported pre-tokenizer "Nonesuch"`},
		{`{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Nope"}]}, ` + okModel + `}`, "pre_tokenizer.pretokenizers[1].type"},
		{`{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?<=x)y"}, "behavior": "Isolated"}, ` + okModel + `}`, `pre_tokenizer.pattern.Regex: unsupported regex "(?<=x)y"`},
		{`{"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}, ` + okModel + `}`, "pre_tokenizer.behavior"},
		{`{"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": "yes"}, ` + okModel + `}`, "pre_tokenizer.add_prefix_space"},
		{`{"normalizer": {"type": "Precompiled"}, ` + okModel + `}`, `normalizer.type: unsupported normalizer "Precompiled"`},
		{`{"normalizer": {"foo": 1}, ` + okModel + `}`, "normalizer.type: missing"},
		{`{"decoder": {"type": "CTC"}, ` + okModel + `}`, `decoder.type: unsupported decoder "CTC"`},
		{`{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {}}, ` + okModel + `}`, "post_processor.special_tokens"},
		{`{"added_tokens": [{"id": 5, "content": ""}], ` + okModel + `}`, "added_tokens[0].content"},
	}
	for _, c := range cases {
		_, err := FromJSON([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromJSON(%s): err = %v, want it to mention %q", c.json, err, c.want)
		}
	}
}

func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := FromDir(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty dir: err = %v, want os.ErrNotExist", err)
	}
	data, err := os.ReadFile(tok512)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tok512.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("Once upon a time", true); len(got) == 0 || got[0] != 1 {
		t.Errorf("llama2.c dir: %v", got)
	}
	// vocab.json + merges.txt beats tokenizer.bin.
	os.WriteFile(filepath.Join(dir, "vocab.json"), readGz(t, "gpt2-encoder.json.gz"), 0o644)
	os.WriteFile(filepath.Join(dir, "merges.txt"), readGz(t, "gpt2-vocab.bpe.gz"), 0o644)
	if tk, err = FromDir(dir); err != nil || tk.VocabSize() != 50257 {
		t.Fatalf("gpt2 dir: %v", err)
	}
	// tokenizer.json beats both.
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), readGz(t, "llama2.json.gz"), 0o644)
	if tk, err = FromDir(dir); err != nil || tk.VocabSize() != 32000 || tk.BOS() != 1 || tk.EOS() != 2 {
		t.Fatalf("tokenizer.json dir: %v", err)
	}
}

func TestValidUTF8(t *testing.T) {
	cases := map[string]string{
		"abc":                  "abc",
		"\xff":                 "\uFFFD",
		"a\xffb":               "a\uFFFDb",
		"\xe2\x82":             "\uFFFD",
		"\xe2\x82a":            "\uFFFDa",
		"\xf0\x9f\x98":         "\uFFFD",
		"\xed\xa0\x80":         "\uFFFD\uFFFD\uFFFD",
		"\xc0\xaf":             "\uFFFD\uFFFD",
		"\xf4\x90\x80\x80":     "\uFFFD\uFFFD\uFFFD\uFFFD",
		"\xe6\x97\xa5\xe6\x9c": "日\uFFFD",
	}
	for in, want := range cases {
		if got := ValidUTF8(in); got != want {
			t.Errorf("ValidUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}
