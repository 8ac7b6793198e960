package source

import (
	"fmt"
	"strconv"
	"strings"
)

// Pool turns one stimulus's per-token activations into one vector.
type Pool struct {
	Kind string // "last", "mean" or "pos"
	Pos  int    // for "pos": the position, negative counting from the end
}

// ParsePool parses last, mean or pos:N (N may be negative: pos:-2 is the
// last but one token).
func ParsePool(s string) (Pool, error) {
	switch {
	case s == "last", s == "mean":
		return Pool{Kind: s}, nil
	case strings.HasPrefix(s, "pos:"):
		n, err := strconv.Atoi(s[4:])
		if err != nil {
			return Pool{}, &Error{Src: "pool", Msg: fmt.Sprintf("%q: the position is not an integer", s)}
		}
		return Pool{Kind: "pos", Pos: n}, nil
	}
	return Pool{}, &Error{Src: "pool", Msg: fmt.Sprintf("%q: want last, mean or pos:N", s)}
}

func (p Pool) String() string {
	if p.Kind == "pos" {
		return "pos:" + strconv.Itoa(p.Pos)
	}
	return p.Kind
}

// Apply pools acts, seq positions × width values row-major (one
// sequence's activations at one hook, everything after the position axis
// flattened), into out (width values).
func (p Pool) Apply(acts []float32, seq, width int, out []float64) error {
	if len(acts) != seq*width || len(out) != width || seq == 0 {
		return &Error{Src: "pool", Msg: fmt.Sprintf("%d values for %d positions × %d", len(acts), seq, width)}
	}
	switch p.Kind {
	case "mean":
		clear(out)
		for t := 0; t < seq; t++ {
			for j, v := range acts[t*width : (t+1)*width] {
				out[j] += float64(v)
			}
		}
		for j := range out {
			out[j] /= float64(seq)
		}
		return nil
	case "last", "pos":
		t := seq - 1
		if p.Kind == "pos" {
			t = p.Pos
			if t < 0 {
				t += seq
			}
			if t < 0 || t >= seq {
				return &Error{Src: "pool", Msg: fmt.Sprintf("position %d is outside a sequence of %d tokens", p.Pos, seq)}
			}
		}
		for j, v := range acts[t*width : (t+1)*width] {
			out[j] = float64(v)
		}
		return nil
	}
	return &Error{Src: "pool", Msg: fmt.Sprintf("unknown pooling %q", p.Kind)}
}
