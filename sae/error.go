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
	// A transcoder's output hooks (hook_name_out), its own and the one
	// asked for.
	SAEHookOut, WantHookOut string
}

func (e *MismatchError) Error() string {
	if e.WantHook == "" { // only the model was checked
		return fmt.Sprintf("sae: %s was trained on model %q (at %s); it cannot be used on model %q", e.Dir, e.SAEModel, hooks(e.SAEHook, e.SAEHookOut), e.WantModel)
	}
	return fmt.Sprintf("sae: %s was trained on model %q at %s; it cannot be used on model %q at %s",
		e.Dir, e.SAEModel, hooks(e.SAEHook, e.SAEHookOut), e.WantModel, hooks(e.WantHook, e.WantHookOut))
}

// hooks names an SAE's hook, or a transcoder's input and output hooks.
func hooks(in, out string) string {
	if out == "" {
		return fmt.Sprintf("hook %q", in)
	}
	return fmt.Sprintf("hooks %q → %q", in, out)
}
