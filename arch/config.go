package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// Config reads a Hugging Face config.json. Accessors take a default; a key
// that is present with the wrong type is remembered and reported by Err, so a
// family constructor reads straight through and checks once.
//
// Numbers are kept as written (json.Number), so that messages quote the file
// (vocab_size 1e300, not the integer it overflows to) and so that no value is
// rounded before it is range-checked.
type Config struct {
	Source  string // where it came from, for messages
	m       map[string]any
	errs    []error
	limits  Limits // set by Bound
	bounded bool
}

// maxConfigBytes bounds a config.json: real ones are a few kilobytes.
const maxConfigBytes = 16 << 20

// ReadConfig parses a config.json file.
func ReadConfig(path string) (*Config, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("arch: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("arch: %s: %w", path, err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("arch: %s: larger than %d MiB; not a model config", path, maxConfigBytes>>20)
	}
	return ParseConfig(path, b)
}

// ParseConfig parses the bytes of a config.json; source names it in messages.
func ParseConfig(source string, data []byte) (*Config, error) {
	m, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("arch: %s: %w", source, err)
	}
	return &Config{Source: source, m: m}, nil
}

// decodeObject decodes a JSON object with numbers kept as json.Number.
func decodeObject(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("invalid character after top-level value")
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// NewConfig wraps an already-decoded config (GGUF and llama2.c readers
// synthesise one).
// Values go through a JSON round trip so numbers read alike from either.
func NewConfig(source string, m map[string]any) *Config {
	c := &Config{Source: source, m: map[string]any{}}
	if m == nil {
		return c
	}
	b, err := json.Marshal(m)
	if err == nil {
		c.m, err = decodeObject(b)
	}
	if err != nil {
		c.fail("config: %v", err)
	}
	return c
}

// Err reports every missing or mistyped key read so far.
func (c *Config) Err() error { return errors.Join(c.errs...) }

func (c *Config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// Has reports whether key is present and not null.
func (c *Config) Has(key string) bool { v, ok := c.m[key]; return ok && v != nil }

// Present reports whether key is in the config at all, even as null: some
// defaults differ between an absent key and an explicit null.
func (c *Config) Present(key string) bool { _, ok := c.m[key]; return ok }

// Raw returns the decoded JSON value of key.
func (c *Config) Raw(key string) any { return c.m[key] }

// Int reads an integer; def < 0 with the key absent is an error ("required").
func (c *Config) Int(key string, def int) int {
	v, ok := c.m[key]
	if !ok || v == nil {
		if def < 0 {
			c.fail("config key %q is required", key)
		}
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		c.fail("config key %q: want an integer, got %v", key, v)
		return def
	}
	i, err := toInt(n)
	if err != nil {
		c.fail("config key %q: %s %v", key, n, err)
		return def
	}
	return i
}

var (
	errNotInt   = errors.New("is not an integer")
	errIntRange = errors.New("is out of range")
)

// toInt reads an integer written in any JSON notation (64, 64.0, 6.4e1).
func toInt(n json.Number) (int, error) {
	if i, err := strconv.ParseInt(string(n), 10, 0); err == nil {
		return int(i), nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, errNotInt
	case math.IsInf(f, 0) || math.Abs(f) >= math.MaxInt64:
		return 0, errIntRange
	case f != math.Trunc(f):
		return 0, errNotInt
	}
	return int(f), nil
}

// Require reads a required positive integer.
func (c *Config) Require(key string) int {
	n := c.Int(key, -1)
	if n <= 0 && c.Has(key) {
		c.fail("config key %q must be positive, got %v", key, c.m[key])
	}
	return n
}

// Float reads a number.
func (c *Config) Float(key string, def float64) float64 {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		c.fail("config key %q: want a number, got %v", key, v)
		return def
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		c.fail("config key %q: %s is out of range", key, n)
		return def
	}
	return f
}

// String reads a string.
func (c *Config) String(key, def string) string {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		c.fail("config key %q: want a string, got %v", key, v)
		return def
	}
	return s
}

// Bool reads a boolean.
func (c *Config) Bool(key string, def bool) bool {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		c.fail("config key %q: want true/false, got %v", key, v)
		return def
	}
	return b
}

// Sub reads a nested object (rope_scaling), nil when absent.
func (c *Config) Sub(key string) *Config {
	v, ok := c.m[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.fail("config key %q: want an object, got %v", key, v)
		return nil
	}
	return &Config{Source: c.Source + ":" + key, m: m, limits: c.limits, bounded: c.bounded}
}

// Strings reads a list of strings (layer_types).
func (c *Config) Strings(key string) []string {
	v, ok := c.m[key]
	if !ok || v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		c.fail("config key %q: want a list, got %v", key, v)
		return nil
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			c.fail("config key %q[%d]: want a string, got %v", key, i, e)
			return nil
		}
		out[i] = s
	}
	return out
}

// Merge folds a sub-config's errors back into c.
func (c *Config) Merge(sub *Config) {
	if sub != nil {
		c.errs = append(c.errs, sub.errs...)
	}
}
