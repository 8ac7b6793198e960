package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
)

// Config reads a Hugging Face config.json. Accessors take a default; a key
// that is present with the wrong type is remembered and reported by Err, so a
// family constructor reads straight through and checks once.
type Config struct {
	Source string // where it came from, for messages
	m      map[string]any
	errs   []error
}

// ReadConfig parses a config.json file.
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("arch: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("arch: %s: %w", path, err)
	}
	return &Config{Source: path, m: m}, nil
}

// NewConfig wraps an already-decoded config (GGUF and llama2.c readers
// synthesise one).
// Values go through a JSON round trip so numbers read alike from either.
func NewConfig(source string, m map[string]any) *Config {
	c := &Config{Source: source, m: map[string]any{}}
	b, err := json.Marshal(m)
	if err == nil {
		err = json.Unmarshal(b, &c.m)
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
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		c.fail("config key %q: want an integer, got %v", key, v)
		return def
	}
	return int(f)
}

// Require reads a required positive integer.
func (c *Config) Require(key string) int {
	n := c.Int(key, -1)
	if n <= 0 && c.Has(key) {
		c.fail("config key %q must be positive, got %d", key, n)
	}
	return n
}

// Float reads a number.
func (c *Config) Float(key string, def float64) float64 {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	f, ok := v.(float64)
	if !ok {
		c.fail("config key %q: want a number, got %v", key, v)
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
	return &Config{Source: c.Source + ":" + key, m: m}
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
