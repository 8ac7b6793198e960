package tokenizer

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Fast paths for the two big parts of a tokenizer.json, the vocabulary and
// the merges (hundreds of thousands of entries), which encoding/json decodes
// slowly. They run on JSON that encoding/json has already validated; any
// surprise makes them fail, and the caller falls back to encoding/json for
// an exact error message.

var errFast = errors.New("fastjson: unexpected input")

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// jsonString decodes the string starting at b[i] == '"'.
func jsonString(b []byte, i int) (string, int, error) {
	if i >= len(b) || b[i] != '"' {
		return "", i, errFast
	}
	i++
	start := i
	for i < len(b) && b[i] != '"' && b[i] != '\\' {
		i++
	}
	if i < len(b) && b[i] == '"' {
		return string(b[start:i]), i + 1, nil
	}
	buf := append([]byte(nil), b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return string(buf), i + 1, nil
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			return "", i, errFast
		}
		e := b[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, n, ok := hex4(b, i)
			if !ok {
				return "", i, errFast
			}
			i = n
			if utf16.IsSurrogate(r) {
				r2, n2, ok2 := rune(0), 0, false
				if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
					r2, n2, ok2 = hex4(b, i+2)
				}
				if ok2 && utf16.DecodeRune(r, r2) != utf8.RuneError {
					r = utf16.DecodeRune(r, r2)
					i = n2
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", i, errFast
		}
	}
	return "", i, errFast
}

func hex4(b []byte, i int) (rune, int, bool) {
	if i+4 > len(b) {
		return 0, i, false
	}
	v, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	if err != nil {
		return 0, i, false
	}
	return rune(v), i + 4, true
}

// skipValue returns the index just after the JSON value at b[i].
func skipValue(b []byte, i int) (int, error) {
	i = skipWS(b, i)
	if i >= len(b) {
		return i, errFast
	}
	switch b[i] {
	case '"':
		_, j, err := jsonString(b, i)
		return j, err
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				_, j, err := jsonString(b, i)
				if err != nil {
					return j, err
				}
				i = j
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return i, errFast
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\r' && b[i] != '\t' {
		i++
	}
	return i, nil
}

// splitObject returns the members of a JSON object without decoding them.
func splitObject(b []byte) (rawObj, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errFast
	}
	o := rawObj{}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return o, nil
	}
	for i < len(b) {
		k, j, err := jsonString(b, skipWS(b, i))
		if err != nil {
			return nil, err
		}
		j = skipWS(b, j)
		if j >= len(b) || b[j] != ':' {
			return nil, errFast
		}
		vs := skipWS(b, j+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, err
		}
		o[k] = json.RawMessage(b[vs:ve])
		i = skipWS(b, ve)
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == '}' {
			return o, nil
		}
		return nil, errFast
	}
	return nil, errFast
}

// fastVocab decodes {"token": id, ...}.
func fastVocab(b []byte) (map[string]int, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errFast
	}
	m := make(map[string]int, len(b)/16)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, nil
	}
	for i < len(b) {
		k, j, err := jsonString(b, skipWS(b, i))
		if err != nil {
			return nil, err
		}
		j = skipWS(b, j)
		if j >= len(b) || b[j] != ':' {
			return nil, errFast
		}
		j = skipWS(b, j+1)
		s := j
		for j < len(b) && (b[j] == '-' || (b[j] >= '0' && b[j] <= '9')) {
			j++
		}
		id, err := strconv.Atoi(string(b[s:j]))
		if err != nil {
			return nil, errFast
		}
		m[k] = id
		i = skipWS(b, j)
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == '}' {
			return m, nil
		}
		return nil, errFast
	}
	return nil, errFast
}

// fastMerges decodes ["a b", ...] or [["a", "b"], ...] into pairs; a string
// without a space is reported as (s, "", false) for the caller's error.
func fastMerges(b []byte) ([][2]string, bool, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false, errFast
	}
	var out [][2]string
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, false, nil
	}
	pairs := false
	for i < len(b) {
		i = skipWS(b, i)
		if i < len(b) && b[i] == '[' {
			pairs = true
			a, j, err := jsonString(b, skipWS(b, i+1))
			if err != nil {
				return nil, false, err
			}
			j = skipWS(b, j)
			if j >= len(b) || b[j] != ',' {
				return nil, false, errFast
			}
			c, j, err := jsonString(b, skipWS(b, j+1))
			if err != nil {
				return nil, false, err
			}
			j = skipWS(b, j)
			if j >= len(b) || b[j] != ']' {
				return nil, false, errFast
			}
			out = append(out, [2]string{a, c})
			i = j + 1
		} else {
			s, j, err := jsonString(b, i)
			if err != nil {
				return nil, false, err
			}
			k := -1
			for x := 0; x < len(s); x++ {
				if s[x] == ' ' {
					k = x
					break
				}
			}
			if k < 0 {
				return nil, false, errFast
			}
			out = append(out, [2]string{s[:k], s[k+1:]})
			i = j
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == ']' {
			return out, pairs, nil
		}
		return nil, false, errFast
	}
	return nil, false, errFast
}
