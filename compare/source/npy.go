package source

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// maxNPYHeader bounds the header a .npy file may declare: numpy writes a
// few hundred bytes, and a larger one is a damaged or hostile file.
const maxNPYHeader = 1 << 16

// ReadNPY reads a 2-D float32 or float64 little-endian C-order array from
// a .npy file (format versions 1–3) of size bytes. Anything else — other
// dtypes, Fortran order, another rank, a size that does not match the
// shape — is an error naming the file and the offset; the array's size is
// checked against the file's before any memory is allocated for it.
func ReadNPY(name string, r io.ReaderAt, size int64) (*mat.Dense, error) {
	fail := func(off int64, format string, args ...any) error {
		return &Error{Src: name, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	var pre [12]byte
	if size < 10 {
		return nil, fail(0, "%d bytes is too short for a .npy file", size)
	}
	if _, err := r.ReadAt(pre[:10], 0); err != nil {
		return nil, &Error{Src: name, Offset: 0, Msg: "reading the preamble", Err: err}
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, fail(0, "not a .npy file (no \\x93NUMPY magic)")
	}
	var hlen, start int64
	switch pre[6] {
	case 1:
		hlen, start = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		if size < 12 {
			return nil, fail(8, "truncated preamble")
		}
		if _, err := r.ReadAt(pre[10:12], 10); err != nil {
			return nil, &Error{Src: name, Offset: 10, Msg: "reading the preamble", Err: err}
		}
		hlen, start = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return nil, fail(6, "unsupported .npy version %d.%d", pre[6], pre[7])
	}
	if hlen > maxNPYHeader || start+hlen > size {
		return nil, fail(start-4, "header of %d bytes does not fit (file %d bytes, limit %d)", hlen, size, maxNPYHeader)
	}
	hb := make([]byte, hlen)
	if _, err := r.ReadAt(hb, start); err != nil {
		return nil, &Error{Src: name, Offset: start, Msg: "reading the header", Err: err}
	}
	h, err := parseNPYHeader(string(hb))
	if err != nil {
		return nil, fail(start, "header %q: %v", strings.TrimSpace(string(hb)), err)
	}
	var item int64
	switch h.descr {
	case "<f4":
		item = 4
	case "<f8":
		item = 8
	default:
		return nil, fail(start, "dtype %q: want little-endian float32 (<f4) or float64 (<f8)", h.descr)
	}
	if h.fortran {
		return nil, fail(start, "Fortran-order array: want C order (numpy.ascontiguousarray)")
	}
	if len(h.shape) != 2 {
		return nil, fail(start, "shape %v: want 2-D stimuli × features", h.shape)
	}
	rows, cols := h.shape[0], h.shape[1]
	if rows == 0 || cols == 0 {
		return nil, fail(start, "shape %v has no data", h.shape)
	}
	data := size - start - hlen
	if rows > data/item || cols > data/item/rows || rows*cols*item != data {
		return nil, fail(start+hlen, "shape %v of %d-byte values needs %s bytes of data, the file has %d", h.shape, item, mulString(rows, cols, item), data)
	}
	raw := make([]byte, data)
	if _, err := r.ReadAt(raw, start+hlen); err != nil {
		return nil, &Error{Src: name, Offset: start + hlen, Msg: "reading the data", Err: err}
	}
	v := make([]float64, rows*cols)
	for i := range v {
		if item == 4 {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		} else {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		if math.IsNaN(v[i]) || math.IsInf(v[i], 0) {
			return nil, fail(start+hlen+int64(i)*item, "value [%d,%d] is %v", int64(i)/cols, int64(i)%cols, v[i])
		}
	}
	return mat.NewDense(int(rows), int(cols), v), nil
}

// mulString is rows·cols·item without overflowing, for messages.
func mulString(a, b, c int64) string {
	f := float64(a) * float64(b) * float64(c)
	if f > 1<<62 {
		return fmt.Sprintf("%.3g", f)
	}
	return strconv.FormatInt(a*b*c, 10)
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseNPYHeader parses the Python dict literal numpy writes:
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
// and nothing looser: exactly these three keys, each once.
func parseNPYHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &lit{s: strings.TrimRight(s, " \n")}
	if !p.eat("{") {
		return h, fmt.Errorf("want a dict")
	}
	seen := map[string]bool{}
	for !p.eat("}") {
		key, ok := p.str()
		if !ok || !p.eat(":") {
			return h, fmt.Errorf("want 'key': value at column %d", p.i)
		}
		if seen[key] {
			return h, fmt.Errorf("key %q twice", key)
		}
		seen[key] = true
		switch key {
		case "descr":
			if h.descr, ok = p.str(); !ok {
				return h, fmt.Errorf("descr is not a string")
			}
		case "fortran_order":
			switch {
			case p.eat("False"):
			case p.eat("True"):
				h.fortran = true
			default:
				return h, fmt.Errorf("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, ok = p.tuple(); !ok {
				return h, fmt.Errorf("shape is not a tuple of sizes at column %d", p.i)
			}
		default:
			return h, fmt.Errorf("unexpected key %q", key)
		}
		if !p.eat(",") && !p.peek("}") {
			return h, fmt.Errorf("want , or } at column %d", p.i)
		}
	}
	if p.i != len(p.s) {
		return h, fmt.Errorf("text after the dict at column %d", p.i)
	}
	if len(seen) != 3 {
		return h, fmt.Errorf("want descr, fortran_order and shape")
	}
	return h, nil
}

// lit scans a Python literal.
type lit struct {
	s string
	i int
}

func (p *lit) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *lit) peek(t string) bool { p.skip(); return strings.HasPrefix(p.s[p.i:], t) }

func (p *lit) eat(t string) bool {
	if p.peek(t) {
		p.i += len(t)
		return true
	}
	return false
}

func (p *lit) str() (string, bool) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

func (p *lit) tuple() ([]int64, bool) {
	if !p.eat("(") {
		return nil, false
	}
	var out []int64
	for !p.eat(")") {
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		v, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
		if err != nil || len(out) == 8 {
			return nil, false
		}
		p.i = j
		out = append(out, v)
		if !p.eat(",") && !p.peek(")") {
			return nil, false
		}
	}
	return out, true
}
