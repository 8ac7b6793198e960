package arch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch"
	_ "github.com/glia-dev/glia/arch/all"
	"github.com/glia-dev/glia/format/safetensors"
)

const tiny = "../testdata/hf-tiny/"

// tinyConfig returns a tiny checkpoint's config.json edited by edit (numbers
// are json.Number, so they are written back exactly as given), and the limits
// its weights put on it.
func tinyConfig(t *testing.T, fam string, edit func(m map[string]any)) ([]byte, arch.Limits) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(tiny, fam, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	src, err := safetensors.OpenModel(filepath.Join(tiny, fam))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return out, arch.LimitsOf(src)
}

func set(kv ...any) func(map[string]any) {
	return func(m map[string]any) {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
	}
}

type num = json.Number

// Every size is checked against the weights before a family allocates from
// it, and every constant that would make activations NaN is refused; the
// error names the file, the key and the value as written there.
func TestHostileConfig(t *testing.T) {
	ropeFactor0 := set("rope_parameters", nil, "rope_theta", num("10000"), "rope_scaling", map[string]any{"type": "linear", "factor": num("0")})
	for _, tc := range []struct {
		name, fam string
		edit      func(map[string]any)
		key, val  string
		kind      error
		msg       string
	}{
		{"layers 1e9", "llama", set("num_hidden_layers", num("1e9")), "num_hidden_layers", "1e9", arch.ErrConfigRange, "more than the 2 layers"},
		{"n_layer 1e9", "gpt2", set("n_layer", num("1e9")), "n_layer", "1e9", arch.ErrConfigRange, "more than the 2 layers"},
		{"one layer too many", "qwen3", set("num_hidden_layers", num("3")), "num_hidden_layers", "3", arch.ErrConfigRange, "more than the 2 layers"},
		{"gemma3 layers 1e9", "gemma3", set("num_hidden_layers", num("1e9")), "num_hidden_layers", "1e9", arch.ErrConfigRange, "layers"},
		{"head_dim -8", "llama", set("head_dim", num("-8")), "head_dim", "-8", arch.ErrConfigRange, "out of range [1, 384]"},
		{"hidden_size 2^62", "llama", set("head_dim", nil, "hidden_size", num("4611686018427387904")), "hidden_size", "4611686018427387904", arch.ErrConfigRange, "larger than any tensor dimension"},
		{"head_dim 2^33", "mistral", set("head_dim", num("8589934592")), "head_dim", "8589934592", arch.ErrConfigRange, "larger than any tensor dimension"},
		{"head_dim × heads", "llama", set("head_dim", num("200")), "head_dim", "200", arch.ErrConfigRange, "times num_attention_heads 4 is 800"},
		{"vocab 1e300", "llama", set("vocab_size", num("1e300")), "vocab_size", "1e300", arch.ErrConfigRange, "larger than any tensor dimension"},
		{"vocab 2.5", "gpt2", set("vocab_size", num("2.5")), "vocab_size", "2.5", arch.ErrConfigType, "not an integer"},
		{"hidden_size string", "olmo2", set("hidden_size", "64"), "hidden_size", `"64"`, arch.ErrConfigType, "not a number"},
		{"rope_theta 0", "llama", set("rope_parameters", map[string]any{"rope_type": "default", "rope_theta": num("0")}), "rope_parameters.rope_theta", "0", arch.ErrConfigRange, "positive"},
		{"gemma3 local theta -1", "gemma3", set("rope_parameters", map[string]any{"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": num("-1")}}),
			"rope_parameters.sliding_attention.rope_theta", "-1", arch.ErrConfigRange, "positive"},
		{"rms_norm_eps -1", "llama", set("rms_norm_eps", num("-1")), "rms_norm_eps", "-1", arch.ErrConfigRange, "positive"},
		{"layer_norm_epsilon 0", "gpt2", set("layer_norm_epsilon", num("0")), "layer_norm_epsilon", "0", arch.ErrConfigRange, "positive"},
		{"rope_scaling.factor 0", "llama", ropeFactor0, "rope_scaling.factor", "0", arch.ErrConfigRange, "positive"},
		{"rotary_pct 0", "gpt_neox", set("rotary_pct", num("0")), "rotary_pct", "0", arch.ErrConfigRange, "(0, 1]"},
		{"query_pre_attn_scalar 0", "gemma2", set("query_pre_attn_scalar", num("0")), "query_pre_attn_scalar", "0", arch.ErrConfigRange, "positive"},
		{"max_position_embeddings 0", "phi3", set("max_position_embeddings", num("0")), "max_position_embeddings", "0", arch.ErrConfigRange, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, lim := tinyConfig(t, tc.fam, tc.edit)
			c, err := arch.ParseConfig("dir/config.json", data)
			if err != nil {
				t.Fatal(err)
			}
			c.Bound(lim)
			_, err = arch.New(c)
			var ce *arch.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *arch.ConfigError", err)
			}
			if ce.Path != "dir/config.json" || ce.Key != tc.key || ce.Value != tc.val || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %q (key %q, value %q), want key %q value %q kind %v and %q", err, ce.Key, ce.Value, tc.key, tc.val, tc.kind, tc.msg)
			}
		})
	}
}

// Without weights (a model of random weights) the absolute bounds apply.
func TestConfigAbsoluteBounds(t *testing.T) {
	for _, tc := range []struct{ key, val, msg string }{
		{"num_hidden_layers", "1e9", "num_hidden_layers 1e9 is out of range [1, 4096]"},
		{"vocab_size", "1e300", "vocab_size 1e300 is out of range [1, 16777216]"},
		{"head_dim", "8589934592", "head_dim 8589934592 is out of range [1, 16777216]"},
	} {
		data, _ := tinyConfig(t, "llama", set(tc.key, num(tc.val)))
		c, err := arch.ParseConfig("config.json", data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := arch.New(c); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %s: got %v, want %q", tc.key, tc.val, err, tc.msg)
		}
	}
}

// The bounds leave every real checkpoint alone.
func TestTinyConfigsWithinBounds(t *testing.T) {
	dirs, _ := filepath.Glob(tiny + "*")
	if len(dirs) < 11 {
		t.Fatalf("found %d tiny checkpoints, want 11", len(dirs))
	}
	for _, dir := range dirs {
		data, lim := tinyConfig(t, filepath.Base(dir), nil)
		c, err := arch.ParseConfig(dir, data)
		if err != nil {
			t.Fatal(err)
		}
		c.Bound(lim)
		if _, err := arch.New(c); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

// Config's accessors quote numbers as written, not as the integer they
// overflow to.
func TestConfigNumbersAsWritten(t *testing.T) {
	c, err := arch.ParseConfig("config.json", []byte(`{"a": 1e300, "b": 1e9, "c": 64.0, "d": 2.5, "e": 1e400}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Int("a", 7); a != 7 || c.Err() == nil || !strings.Contains(c.Err().Error(), `"a": 1e300 is out of range`) {
		t.Errorf("Int(a) = %d, %v", a, c.Err())
	}
	if b, cc := c.Int("b", 0), c.Int("c", 0); b != 1e9 || cc != 64 {
		t.Errorf("Int(b), Int(c) = %d, %d, want 1e9, 64", b, cc)
	}
	c.Int("d", 0)
	c.Float("e", 0)
	for _, want := range []string{`"d": 2.5 is not an integer`, `"e": 1e400 is out of range`} {
		if !strings.Contains(c.Err().Error(), want) {
			t.Errorf("errors %q lack %q", c.Err(), want)
		}
	}
}

// NewRope checks what reaches it from a family or a GGUF/llama2.c header
// before allocating its table.
func TestNewRopeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		params  map[string]any
		headDim int
		msg     string
	}{
		{"negative head", nil, -8, "head dimension -8"},
		{"huge head", nil, 1 << 33, "head dimension 8589934592"},
		{"theta 0", map[string]any{"rope_theta": 0}, 16, "rope_theta 0"},
		{"fraction 0", map[string]any{"partial_rotary_factor": 0}, 16, "partial_rotary_factor 0"},
		{"linear factor -2", map[string]any{"rope_type": "linear", "factor": -2}, 16, "factor -2"},
		{"llama3 factor 0", map[string]any{"rope_type": "llama3", "factor": 0}, 16, "factor 0"},
		{"llama3 equal bands", map[string]any{"rope_type": "llama3", "low_freq_factor": 2, "high_freq_factor": 2}, 16, "must differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := arch.NewConfig("test", nil)
			r := arch.NewRope(c, arch.NewConfig("rope", tc.params), tc.headDim)
			if err := c.Err(); err == nil || !strings.Contains(err.Error(), tc.msg) || len(r.InvFreq) != 0 {
				t.Fatalf("got %d frequencies, error %v; want none and %q", len(r.InvFreq), err, tc.msg)
			}
		})
	}
}
