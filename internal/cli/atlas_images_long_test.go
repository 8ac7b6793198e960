package cli

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/atlas"
)

// TestImageAtlasShortcutLong (GLIA_LONG=1) builds image atlases of the
// trained MNIST models over the 1,000 test digits with the shortcut mark
// (shortcutMark) stamped on every odd-numbered image, as the shortcut
// models' evaluation does, and counts per unit the exemplars that show the
// mark: marked images whose mask lies mostly (half its pixels or more)
// within 4 pixels of the mark. It logs the units all of whose 15 exemplars
// do, by hook, and asserts that the shortcut CNN's last convolution
// (layers.7.relu) has such a unit and the clean CNN's none.
func TestImageAtlasShortcutLong(t *testing.T) {
	if os.Getenv("GLIA_LONG") != "1" {
		t.Skip("GLIA_LONG=1 runs the image atlases of the trained models (about a minute)")
	}
	dir := t.TempDir()
	raw, err := os.ReadFile(mnistTest)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(raw[4:]))
	x0, y0, x1, y1 := shortcutMark[0], shortcutMark[1], shortcutMark[2], shortcutMark[3]
	for i := 1; i < n; i += 2 {
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				raw[16+i*784+y*28+x] = 255
			}
		}
	}
	marked := filepath.Join(dir, "marked.u8")
	if err := os.WriteFile(marked, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	best := map[string]int{}
	for _, model := range []string{"mnist-cnn-shortcut", "mnist-cnn", "mnist-vit-shortcut", "mnist-vit"} {
		db := filepath.Join(dir, model+".db")
		out, errs, code := ivCLI(t, "atlas", "build", "--model", "../../testdata/trained/"+model, "--images", marked, "--out", db, "--json")
		if code != 0 {
			t.Fatalf("%s: %s", model, errs)
		}
		t.Logf("%s: %s", model, strings.TrimSpace(out))
		a, err := atlas.Open(db)
		if err != nil {
			t.Fatal(err)
		}
		full := map[string][]int{} // hook → units with 15 exemplars on the mark
		most := 0
		for _, h := range a.Meta.Settings.Hooks {
			for u := range h.Width {
				r, err := a.ImageUnit(h.Name, u)
				if err != nil {
					t.Fatal(err)
				}
				on := 0
				for _, e := range r.Exemplars {
					if e.Image%2 == 0 {
						continue
					}
					near, all := 0, 0
					for i, m := range r.Mask(e) {
						if m {
							all++
							if x, y := i%r.ImageW, i/r.ImageW; x < x1+4 && y < y1+4 {
								near++
							}
						}
					}
					if all > 0 && 2*near >= all {
						on++
					}
				}
				most = max(most, on)
				if on == 15 {
					full[h.Name] = append(full[h.Name], u)
				}
			}
		}
		a.Close()
		js, _ := json.Marshal(full)
		t.Logf("%s: units whose 15 exemplars show the mark, by hook: %s (most in any unit: %d)", model, js, most)
		best[model] = len(full["layers.7.relu.hook_out"])
	}
	if best["mnist-cnn-shortcut"] == 0 || best["mnist-cnn"] != 0 {
		t.Errorf("units of layers.7.relu.hook_out on the mark: %v; want some in the shortcut CNN and none in the clean one", best)
	}
}
