// Package assets embeds glia's default model so every command works on a
// fresh machine with nothing downloaded: Karpathy's stories260K, a 260K-
// parameter Llama trained on TinyStories (MIT; see models/stories260K/LICENSE.md).
package assets

import _ "embed"

// Stories260KBin is the llama2.c legacy checkpoint.
//
//go:embed models/stories260K/stories260K.bin
var Stories260KBin []byte

// Stories260KTokenizer is its llama2.c tokenizer.bin (512 SentencePiece pieces).
//
//go:embed models/stories260K/tok512.bin
var Stories260KTokenizer []byte

// Stories260KName is how the embedded model is named in output and atlases.
const Stories260KName = "stories260K (embedded)"
