package sae

import (
	"fmt"
	"strings"
)

// Error is a problem with an SAE directory or file: which file, which
// cfg.json key or tensor, and why.
type Error struct {
	Path   string
	Key    string // cfg.json key, if one is concerned
	Tensor string // tensor name, if one is concerned
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sae: ")
	b.WriteString(e.Path)
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, ": tensor %q", e.Tensor)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// MismatchError is an SAE loaded for a model or hook other than the one it
// was trained on.
type MismatchError struct {
	Dir                 string
	SAEModel, SAEHook   string // from its cfg.json
	WantModel, WantHook string // what the caller runs
}

func (e *MismatchError) Error() string {
	if e.WantHook == "" { // only the model was checked
		return fmt.Sprintf("sae: %s was trained on model %q (at hook %q); it cannot be used on model %q", e.Dir, e.SAEModel, e.SAEHook, e.WantModel)
	}
	return fmt.Sprintf("sae: %s was trained on model %q at hook %q; it cannot be used on model %q at hook %q",
		e.Dir, e.SAEModel, e.SAEHook, e.WantModel, e.WantHook)
}
