package concepts

import "fmt"

// Error is a concepts error: the step that failed and why.
type Error struct {
	Op  string // collect, lape, verify, ...
	Msg string
}

func (e *Error) Error() string { return "concepts: " + e.Op + ": " + e.Msg }

func errorf(op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}
