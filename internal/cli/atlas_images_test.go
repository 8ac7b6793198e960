package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/atlas/atlastest"
)

const mnistTest = "../../testdata/images/mnist/mnist-1k.u8"

// TestImageAtlasKnownAnswer: a hand-set CNN whose channel 0 fires only on
// a 3×3 checkerboard, over 200 MNIST digits with the checker planted in
// fifteen of them. Its top fifteen images are exactly those, each at 0.5
// with its maximum in the pooled cell under the checker, every other image
// gives 0, and every exemplar's mask covers its checker (IoU reported).
func TestImageAtlasKnownAnswer(t *testing.T) {
	dir := t.TempDir()
	model, idx, plants, err := atlastest.PlantedCNN(dir, mnistTest, 200)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "img.db")
	out, errs, code := ivCLI(t, "atlas", "build", "--model", model, "--images", idx, "--hooks", "layers.2.maxpool2d.hook_out", "--out", db, "--json")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, errs)
	}
	var sum struct {
		Units, Images  int
		QuantileMethod string `json:"quantile_method"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Units != 2 || sum.Images != 200 || sum.QuantileMethod != "exact" {
		t.Fatalf("summary %s (%v)", out, err)
	}
	out, errs, code = ivCLI(t, "atlas", "show", "--db", db, "layers.2.maxpool2d.hook_out:0", "--json")
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errs)
	}
	var r atlas.ImageUnitReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Quantile == nil || *r.Quantile != 0 || r.GridH != 14 || r.NPos != 15 {
		t.Fatalf("unit 0: quantile %v, grid %d×%d, %d positive cells; want 0, 14×14, 15", r.Quantile, r.GridH, r.GridW, r.NPos)
	}
	byImage := map[int]atlastest.Plant{}
	for _, p := range plants {
		byImage[p.Image] = p
	}
	var ious []float64
	for _, e := range r.Exemplars {
		p, ok := byImage[e.Image]
		if !ok || e.Activation != 0.5 {
			t.Errorf("exemplar %d: image %d at %g; want a planted image at 0.5", e.Rank, e.Image, e.Activation)
			continue
		}
		delete(byImage, e.Image)
		if want := [2]int{(p.Y + 1) / 2, (p.X + 1) / 2}; e.Argmax != want {
			t.Errorf("image %d: maximum at cell %v, want %v (under the checker's centre)", e.Image, e.Argmax, want)
		}
		mask := r.Mask(e)
		inter := 0
		for i := range 9 {
			if mask[(p.Y+i/3)*28+p.X+i%3] {
				inter++
			}
		}
		if inter != 9 {
			t.Errorf("image %d: the mask covers %d of the checker's 9 pixels (box %v)", e.Image, inter, e.MaskBox)
		}
		ious = append(ious, float64(inter)/float64(e.MaskPixels))
	}
	if len(byImage) != 0 {
		t.Errorf("planted images missing from the exemplars: %v", byImage)
	}
	sort.Float64s(ious)
	if len(ious) == 15 {
		t.Logf("mask IoU with the checker over 15 exemplars: min %.3f, median %.3f, max %.3f", ious[0], ious[7], ious[14])
		if ious[0] < 0.5 {
			t.Errorf("IoU %.3f < 0.5", ious[0])
		}
	}
	// Nothing else fires: the 16th best image would be at 0.
	var a struct{ Max float64 }
	json.Unmarshal([]byte(out), &a)
	if a.Max != 0.5 || r.Count != 200*14*14 {
		t.Errorf("max %g, count %d", a.Max, r.Count)
	}

	// Text form, JSON lines, CSV.
	out, _, code = ivCLI(t, "atlas", "show", "--db", db, "layers.2.maxpool2d.hook_out:0", "--top", "1")
	if code != 0 || !strings.Contains(out, "#0  0.5  image") || !strings.Contains(out, "(14 more exemplars") {
		t.Errorf("show (exit %d):\n%s", code, out)
	}
	out, _, code = ivCLI(t, "atlas", "export", "--db", db, "--format", "jsonl")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.Contains(lines[1], `"exemplars":[{`) {
		t.Errorf("export jsonl (exit %d): %d lines", code, len(lines))
	}
	if _, errs, code = ivCLI(t, "atlas", "export", "--db", db, "--format", "parquet", "--out", filepath.Join(dir, "x.parquet")); code == 0 || !strings.Contains(errs, "jsonl or csv") {
		t.Errorf("export parquet: exit %d, %s", code, errs)
	}
	if _, errs, code = ivCLI(t, "atlas", "merge", db, db, "--out", filepath.Join(dir, "m.db")); code == 0 || !strings.Contains(errs, "image atlases are not merged") {
		t.Errorf("merge: exit %d, %s", code, errs)
	}
}

// TestImageAtlasCLIErrors: a text model, a damaged image set and an
// existing output are refused, and nothing is written.
func TestImageAtlasCLIErrors(t *testing.T) {
	dir := t.TempDir()
	model, idx, _, err := atlastest.PlantedCNN(dir, mnistTest, 20)
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.u8")
	b, _ := os.ReadFile(idx)
	os.WriteFile(short, b[:len(b)-5], 0o644)
	db := filepath.Join(dir, "x.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--images", idx}, "not an image model"},                             // the embedded text model
		{[]string{"--model", model, "--images", short}, "header announces 20 images"}, // truncated IDX
		{[]string{"--model", model, "--images", idx + ":21"}, "has 20 images; 21 were asked for"},
		{[]string{"--model", model, "--images", idx, "--hooks", "layers.3.flatten.hook_out,nope.*"}, "nope"},
		{[]string{"--model", model, "--images", idx, "--top-k", "0"}, "--top-k"},
	} {
		_, errs, code := ivCLI(t, append([]string{"atlas", "build", "--out", db}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want an error containing %q", c.args, code, errs, c.want)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("%v left %s", c.args, db)
		}
	}
	if _, errs, code := ivCLI(t, "atlas", "build", "--model", model, "--images", idx, "--out", db); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := ivCLI(t, "atlas", "build", "--model", model, "--images", idx, "--out", db); code == 0 || !strings.Contains(errs, "--force") {
		t.Errorf("existing output: exit %d, %s", code, errs)
	}
}
