package compare

import "fmt"

// Error is every error this package returns: the operation that failed and why.
type Error struct {
	Op  string // "cka", "rdm", "npy", "align", ...
	Src string // the file or source concerned, "" when none
	Msg string
	Err error // underlying cause, may be nil
}

func (e *Error) Error() string {
	s := "compare: " + e.Op + ": "
	if e.Src != "" {
		s += e.Src + ": "
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(op, format string, args ...any) *Error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

// SettingError is an invalid setting of a Spec or a Repeated recording.
// Setting is its name as the CLI's flags and the JSON API's fields spell
// it (method, rdm, compare, topo, data_rdm, noise).
type SettingError struct {
	Setting string
	Value   string
	Want    string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("compare: %s %q: %s", e.Setting, e.Value, e.Want)
}
