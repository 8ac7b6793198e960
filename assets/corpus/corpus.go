// Package defaultcorpus embeds the corpus that `glia atlas build` uses when
// no --corpus is given: short children's stories that suit the embedded
// stories260K model. See README.md.
package defaultcorpus

import (
	"embed"
	"io/fs"
)

//go:embed *.txt.gz
var files embed.FS

// FS holds the corpus files (gzipped plain text).
func FS() fs.FS { return files }

// DocSep separates the stories inside each file.
const DocSep = "<|endoftext|>"

// Name is how atlases record this corpus.
const Name = "embedded:stories"
