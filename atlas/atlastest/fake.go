// Package atlastest provides a deterministic fake language model for tests
// of the atlas and of the commands that use it.
package atlastest

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Fake is a deterministic stand-in for a language model: token ids are
// bytes+2 (BOS 1), and unit u of hook l at position t has an activation that
// depends on the current and previous token, quantised so that ties are
// frequent.
type Fake struct {
	Layers, Width int
	MaxCtx        int
	Delay         time.Duration // slept in each Forward call
	FP            string        // fingerprint override
}

// New makes a fake with layers × 2 hooks (mlp.hook_post, hook_resid_post) of width units.
func New(layers, width int) *Fake {
	return &Fake{Layers: layers, Width: width, MaxCtx: 256}
}

func (f *Fake) Fingerprint() string {
	if f.FP != "" {
		return f.FP
	}
	return fmt.Sprintf("fake-%d-%d", f.Layers, f.Width)
}
func (f *Fake) Name() string    { return "fake" }
func (f *Fake) MaxContext() int { return f.MaxCtx }
func (f *Fake) BOS() int32      { return 1 }

func (f *Fake) hookNames() []string {
	var n []string
	for l := 0; l < f.Layers; l++ {
		n = append(n, fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.hook_resid_post", l))
	}
	return n
}

func (f *Fake) MatchHooks(p string) ([]string, error) { return matchHooks(f.hookNames(), p) }

func matchHooks(names []string, p string) ([]string, error) {
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(p, n); ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no hook matches %q", p)
	}
	return out, nil
}

func (f *Fake) HookWidth(name string) (int, error) {
	for _, n := range f.hookNames() {
		if n == name {
			return f.Width, nil
		}
	}
	return 0, fmt.Errorf("no hook %q", name)
}

func (f *Fake) Encode(text string) []int32 {
	ids := make([]int32, 0, len(text))
	for i := 0; i < len(text); i++ {
		if text[i] == ' ' || text[i] == '\n' {
			if i > 0 && (text[i-1] == ' ' || text[i-1] == '\n') {
				continue
			}
		}
		ids = append(ids, int32(text[i])+2)
	}
	if strings.TrimSpace(text) == "" {
		return nil
	}
	return ids
}

func (f *Fake) TokenString(id int32) string {
	if id == 1 {
		return "<s>"
	}
	return string(rune(id - 2))
}

func Act(layer, u int, cur, prev int32) float32 {
	h := mix64(uint64(layer)<<40 ^ uint64(u)<<20 ^ uint64(cur)<<8 ^ uint64(prev))
	switch u % 5 {
	case 0: // dead unit: never positive
		return -float32(h%7) / 16
	case 1: // wide range, signed
		return float32(int(h%2001)-1000) / 64
	default:
		return float32(int(h%97)-30) / 8
	}
}

func (f *Fake) Forward(ids [][]int32, hooks []string) (map[string][]float32, error) {
	if f.Delay > 0 {
		time.Sleep(f.Delay)
	}
	out := map[string][]float32{}
	for _, name := range hooks {
		layer, _ := strconv.Atoi(strings.Split(name, ".")[1])
		if strings.HasSuffix(name, "resid_post") {
			layer += 100
		}
		t := len(ids[0])
		a := make([]float32, len(ids)*t*f.Width)
		for b, w := range ids {
			if len(w) != t {
				return nil, fmt.Errorf("unequal windows")
			}
			for p := 0; p < t; p++ {
				prev := int32(0)
				if p > 0 {
					prev = w[p-1]
				}
				row := a[(b*t+p)*f.Width:]
				for u := 0; u < f.Width; u++ {
					row[u] = Act(layer, u, w[p], prev)
				}
			}
		}
		out[name] = a
	}
	return out, nil
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
