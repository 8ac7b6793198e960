package atlas

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// fakeModel is a deterministic stand-in for a language model: token ids are
// bytes+2 (BOS 1), and unit u of hook l at position t has an activation that
// depends on the current and previous token, quantised so that ties are
// frequent.
type fakeModel struct {
	layers, width int
	maxCtx        int
	delay         time.Duration // per Forward call
	fp            string
}

func newFake(layers, width int) *fakeModel {
	return &fakeModel{layers: layers, width: width, maxCtx: 256}
}

func (f *fakeModel) Fingerprint() string {
	if f.fp != "" {
		return f.fp
	}
	return fmt.Sprintf("fake-%d-%d", f.layers, f.width)
}
func (f *fakeModel) Name() string    { return "fake" }
func (f *fakeModel) MaxContext() int { return f.maxCtx }
func (f *fakeModel) BOS() int32      { return 1 }

func (f *fakeModel) hookNames() []string {
	var n []string
	for l := 0; l < f.layers; l++ {
		n = append(n, fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.hook_resid_post", l))
	}
	return n
}

func (f *fakeModel) MatchHooks(p string) ([]string, error) {
	var out []string
	for _, n := range f.hookNames() {
		if ok, _ := path.Match(p, n); ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no hook matches %q", p)
	}
	return out, nil
}

func (f *fakeModel) HookWidth(name string) (int, error) {
	for _, n := range f.hookNames() {
		if n == name {
			return f.width, nil
		}
	}
	return 0, fmt.Errorf("no hook %q", name)
}

func (f *fakeModel) Encode(text string) []int32 {
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

func (f *fakeModel) TokenString(id int32) string {
	if id == 1 {
		return "<s>"
	}
	return string(rune(id - 2))
}

func fakeAct(layer, u int, cur, prev int32) float32 {
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

func (f *fakeModel) Forward(ids [][]int32, hooks []string) (map[string][]float32, error) {
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	out := map[string][]float32{}
	for _, name := range hooks {
		layer, _ := strconv.Atoi(strings.Split(name, ".")[1])
		if strings.HasSuffix(name, "resid_post") {
			layer += 100
		}
		t := len(ids[0])
		a := make([]float32, len(ids)*t*f.width)
		for b, w := range ids {
			if len(w) != t {
				return nil, fmt.Errorf("unequal windows")
			}
			for p := 0; p < t; p++ {
				prev := int32(0)
				if p > 0 {
					prev = w[p-1]
				}
				row := a[(b*t+p)*f.width:]
				for u := 0; u < f.width; u++ {
					row[u] = fakeAct(layer, u, w[p], prev)
				}
			}
		}
		out[name] = a
	}
	return out, nil
}
