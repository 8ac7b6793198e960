package atlastest

import (
	"fmt"
	"strconv"
	"strings"
)

// AttnFake adds attention hooks to a Fake and reports full hook shapes (it
// is an atlas.HookShaper): blocks.L.attn.hook_z is [batch, pos, Heads,
// DHead] and blocks.L.attn.hook_pattern [batch, Heads, q, k], as in the
// engine. HookWidth gives the last axis, as the engine's adapter does.
type AttnFake struct {
	*Fake
	Heads, DHead int
}

func (f *AttnFake) hookNames() []string {
	n := f.Fake.hookNames()
	for l := 0; l < f.Layers; l++ {
		n = append(n, fmt.Sprintf("blocks.%d.attn.hook_z", l), fmt.Sprintf("blocks.%d.attn.hook_pattern", l))
	}
	return n
}

func (f *AttnFake) MatchHooks(p string) ([]string, error) { return matchHooks(f.hookNames(), p) }

func (f *AttnFake) HookShape(name string, seq int) ([]int, error) {
	switch {
	case strings.HasSuffix(name, "attn.hook_z"):
		return []int{1, seq, f.Heads, f.DHead}, nil
	case strings.HasSuffix(name, "attn.hook_pattern"):
		return []int{1, f.Heads, seq, seq}, nil
	}
	w, err := f.Fake.HookWidth(name)
	return []int{1, seq, w}, err
}

func (f *AttnFake) HookWidth(name string) (int, error) {
	s, err := f.HookShape(name, 2)
	if err != nil {
		return 0, err
	}
	return s[len(s)-1], nil
}

// Forward gives unit head*DHead+i of hook_z at a token the activation
// Act(layer+200, unit, ...), laid out [batch, pos, head, d_head].
func (f *AttnFake) Forward(ids [][]int32, hooks []string) (map[string][]float32, error) {
	var plain []string
	out := map[string][]float32{}
	t := len(ids[0])
	for _, name := range hooks {
		layer, _ := strconv.Atoi(strings.Split(name, ".")[1])
		switch {
		case strings.HasSuffix(name, "attn.hook_z"):
			w := f.Heads * f.DHead
			a := make([]float32, len(ids)*t*w)
			for b, win := range ids {
				for p := 0; p < t; p++ {
					prev := int32(0)
					if p > 0 {
						prev = win[p-1]
					}
					for u := 0; u < w; u++ {
						a[(b*t+p)*w+u] = Act(layer+200, u, win[p], prev)
					}
				}
			}
			out[name] = a
		case strings.HasSuffix(name, "attn.hook_pattern"):
			out[name] = make([]float32, len(ids)*f.Heads*t*t)
		default:
			plain = append(plain, name)
		}
	}
	rest, err := f.Fake.Forward(ids, plain)
	for k, v := range rest {
		out[k] = v
	}
	return out, err
}
