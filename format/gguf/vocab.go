package gguf

import "math"

// Vocab is the tokenizer stored in a GGUF file's tokenizer.ggml.* keys.
// Token ids are -1 when absent (llama.cpp's 0xFFFFFFFF "none" included).
// The slices are shared with the File: copy before modifying.
type Vocab struct {
	Model, Pre     string
	Tokens         []string
	Scores         []float32
	Types          []int32
	Merges         []string
	BOS, EOS       int
	UNK, PAD       int
	AddBOS, AddEOS bool
	AddSpacePrefix bool
}

// Vocab reads the embedded tokenizer. Defaults when keys are absent: AddBOS
// true for the "llama" (SentencePiece) model, AddEOS false, AddSpacePrefix
// true for "llama".
func (f *File) Vocab() (Vocab, error) {
	var v Vocab
	var err error
	if v.Model, _, err = f.String("tokenizer.ggml.model"); err != nil {
		return v, err
	}
	if v.Pre, _, err = f.String("tokenizer.ggml.pre"); err != nil {
		return v, err
	}
	var ok bool
	if v.Tokens, ok, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
		return v, err
	} else if !ok {
		return v, keyErr(f.path, "tokenizer.ggml.tokens", -1, ErrNotFound, nil, "no tokenizer vocabulary")
	}
	n := len(v.Tokens)
	if v.Scores, ok, err = f.Float32s("tokenizer.ggml.scores"); err != nil {
		return v, err
	} else if ok && len(v.Scores) != n {
		return v, keyErr(f.path, "tokenizer.ggml.scores", -1, ErrFormat, nil, "%d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types, ok, err = f.Int32s("tokenizer.ggml.token_type"); err != nil {
		return v, err
	} else if ok && len(v.Types) != n {
		return v, keyErr(f.path, "tokenizer.ggml.token_type", -1, ErrFormat, nil, "%d token types for %d tokens", len(v.Types), n)
	}
	if v.Merges, _, err = f.Strings("tokenizer.ggml.merges"); err != nil {
		return v, err
	}
	for _, id := range []struct {
		key string
		dst *int
	}{
		{"tokenizer.ggml.bos_token_id", &v.BOS},
		{"tokenizer.ggml.eos_token_id", &v.EOS},
		{"tokenizer.ggml.unknown_token_id", &v.UNK},
		{"tokenizer.ggml.padding_token_id", &v.PAD},
	} {
		*id.dst = -1
		x, ok, err := f.Uint(id.key)
		if err != nil {
			return v, err
		}
		if ok && x != math.MaxUint32 && x != math.MaxUint64 { // llama.cpp writes -1 as "none"
			if x >= uint64(n) {
				return v, keyErr(f.path, id.key, -1, ErrFormat, nil, "token id %d out of range (vocabulary has %d tokens)", x, n)
			}
			*id.dst = int(x)
		}
	}
	isSPM := v.Model == "llama"
	v.AddBOS, v.AddEOS, v.AddSpacePrefix = isSPM, false, isSPM
	for _, b := range []struct {
		key string
		dst *bool
	}{
		{"tokenizer.ggml.add_bos_token", &v.AddBOS},
		{"tokenizer.ggml.add_eos_token", &v.AddEOS},
		{"tokenizer.ggml.add_space_prefix", &v.AddSpacePrefix},
	} {
		x, ok, err := f.Bool(b.key)
		if err != nil {
			return v, err
		}
		if ok {
			*b.dst = x
		}
	}
	return v, nil
}
