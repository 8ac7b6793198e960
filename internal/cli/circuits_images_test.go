package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCircuitsPathImages: glia circuits path on the trained MNIST ViT finds
// a path at the CLS token for one image's label, and over one image per
// class compares the joint path with the three baselines in all and per
// class; the usage mistakes say what is wrong.
func TestCircuitsPathImages(t *testing.T) {
	const vit, mnist = "../../testdata/trained/mnist-vit", "../../testdata/images/mnist/mnist-1k.u8"
	out, errs, code := ivCLI(t, "circuits", "path", "--model", vit, "--image", mnist+":3", "--class", "3", "--json")
	if code != 0 {
		t.Fatalf("circuits path --image: exit %d: %s", code, errs)
	}
	var one struct {
		Image string  `json:"image"`
		Pos   int     `json:"pos"`
		Token int     `json:"token"`
		Prob  float64 `json:"prob"`
		Hooks []string
		Paths []struct {
			Method  string `json:"method"`
			Neurons []int  `json:"neurons"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &one); err != nil {
		t.Fatal(err)
	}
	if one.Image != mnist+":3" || one.Pos != 0 || one.Token != 3 || len(one.Hooks) != 2 || len(one.Paths) != 3 || one.Paths[0].Method != "joint" || len(one.Paths[0].Neurons) != 2 {
		t.Errorf("circuits path --image: %+v", one)
	}

	out, errs, code = ivCLI(t, "circuits", "path", "--model", vit, "--images", mnist, "--per-class", "1", "--random", "--json")
	if code != 0 {
		t.Fatalf("circuits path --images: exit %d: %s", code, errs)
	}
	var set struct {
		Images  int `json:"images"`
		Methods []struct {
			Method string `json:"method"`
		} `json:"methods"`
		Classes []struct {
			Class, Images int
		} `json:"classes"`
		Results []struct {
			Label *int `json:"label"`
			Token int  `json:"token"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &set); err != nil {
		t.Fatal(err)
	}
	if set.Images != 10 || len(set.Methods) != 4 || set.Methods[3].Method != "random" || len(set.Classes) != 10 || len(set.Results) != 10 {
		t.Fatalf("circuits path --images: %d images, %d methods, %d classes", set.Images, len(set.Methods), len(set.Classes))
	}
	for i, r := range set.Results {
		if r.Label == nil || *r.Label != r.Token || set.Classes[r.Token].Images != 1 {
			t.Errorf("image %d: label %v, target %d", i, r.Label, r.Token)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", mnist + ":0", "--target", "a"}, "--target is for text models"},
		{[]string{"--image", mnist + ":0", "--per-class", "2"}, "go with --images"},
		{[]string{"--image", mnist + ":0", "--prompt", "a"}, "give one of"},
		{[]string{"--images", "../../testdata/images/mnist", "--per-class", "2"}, "--per-class needs labels"},
	} {
		_, errs, code := ivCLI(t, append([]string{"circuits", "path", "--model", vit}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	if _, errs, code := ivCLI(t, "circuits", "path", "--model", vit, "--image", mnist+":5000"); code == 0 || !strings.Contains(errs, "past the end") {
		t.Errorf("image past the end: exit %d, %q", code, errs)
	}
}
