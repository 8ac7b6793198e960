package arch_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/arch"
)

// FuzzConfig: no config.json makes parsing or a family's constructor panic,
// and one that is accepted declares no more than its weights allow, so the
// engine's weight list and tables stay bounded. The committed corpus
// (testdata/fuzz/FuzzConfig) holds the hostile cases of issue 14; every tiny
// checkpoint's config is added here.
func FuzzConfig(f *testing.F) {
	dirs, _ := filepath.Glob(tiny + "*")
	vision, _ := filepath.Glob(filepath.Join(tiny, "..", "hf-tiny-vision", "*", "config.json"))
	for _, c := range vision {
		dirs = append(dirs, filepath.Dir(c))
	}
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	lim := arch.Limits{Layers: 4, Dim: 512}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := arch.ParseConfig("config.json", data)
		if err != nil {
			return
		}
		c.Bound(lim)
		fam, err := arch.New(c)
		var ce *arch.ConfigError
		if errors.As(err, &ce) && (ce.Path != "config.json" || ce.Key == "" || ce.Kind == nil) {
			t.Fatalf("config error without file, key or kind: %#v", ce)
		}
		if err != nil {
			return
		}
		d := fam.Dims()
		noAttn := d.Heads == 0 && d.KVHeads == 0 && d.DHead == 0 && d.DMLP == 0 // a CNN
		for _, v := range []int{d.Layers, d.DModel, d.Heads, d.KVHeads, d.DHead, d.DMLP, d.Vocab} {
			if v < 0 || v == 0 && !noAttn || v > lim.Dim {
				t.Fatalf("accepted dims %+v beyond limits %+v", d, lim)
			}
		}
		if d.Layers > lim.Layers {
			t.Fatalf("accepted %d layers, limit %d", d.Layers, lim.Layers)
		}
		ws := fam.Weights()
		if len(ws) > 32*(d.Layers+1) {
			t.Fatalf("%d weights for %d layers", len(ws), d.Layers)
		}
		for _, w := range ws {
			for _, n := range w.Shape {
				if n < 1 || n > 4*lim.Dim {
					t.Fatalf("weight %s has shape %v (limits %+v)", w.Name, w.Shape, lim)
				}
			}
		}
	})
}
