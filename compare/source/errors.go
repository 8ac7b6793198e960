// Package source reads the stimuli × features matrices that package
// compare compares: .npy, CSV and safetensors files of recordings or
// activations, aligned by stimulus id, and pools a model's per-token
// activations into one vector per stimulus.
package source

import "fmt"

// Error is every error this package returns. It names the file (or
// source), the place in it when known and what is wrong.
type Error struct {
	Src    string // the file or source
	Offset int64  // byte offset in the file, -1 or 0 when none applies
	Line   int    // 1-based line of a text file, 0 when none
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	s := "source: " + e.Src + ": " + e.Msg
	switch {
	case e.Line > 0:
		s += fmt.Sprintf(" (line %d)", e.Line)
	case e.Offset > 0:
		s += fmt.Sprintf(" (at byte %d)", e.Offset)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }
