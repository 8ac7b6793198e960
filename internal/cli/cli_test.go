package cli

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

// TestUsageMistakes: typos get a suggestion, a flag error is a few lines with
// the synopsis (not every flag), and stray arguments are refused.
func TestUsageMistakes(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		want     []string // substrings of stderr
		maxLines int
	}{
		{[]string{"expain"}, []string{`"expain" is not a glia command`, "glia explain"}, 8},
		{[]string{"atals", "build"}, []string{`"atals build" is not a glia command`, "glia atlas build"}, 8},
		{[]string{"atlas", "biuld"}, []string{"glia atlas build"}, 8},
		{[]string{"patch", "pth"}, []string{"glia patch path"}, 8},
		{[]string{"run", "--promt", "hi"}, []string{"unknown flag --promt; did you mean --prompt?", "usage: glia run"}, 3},
		{[]string{"generate", "--max-nwe", "3"}, []string{"did you mean --max-new?"}, 3},
		{[]string{"run", "--prompt", "hi", "extra"}, []string{`unexpected argument "extra"`, "usage: glia run"}, 3},
		{[]string{"run", "--prompt", ""}, []string{"--prompt is empty"}, 3},
		{[]string{"run"}, []string{"missing the input: give --prompt TEXT or --ids"}, 3},
		{[]string{"generate", "--max-new", "-5"}, []string{"--max-new must be at least 1 (got -5)"}, 3},
		{[]string{"patch"}, []string{"missing the prompts: give --clean TEXT and --corrupt TEXT", "usage: glia patch"}, 3},
		{[]string{"patch", "--clean", "a", "--corrupt", "b"}, []string{"missing --metric: give logit-diff:A,B"}, 3},
		{[]string{"patch", "--clean", "a", "--clean", "c", "--corrupt", "b", "--metric", "logit-diff:#1,#2"}, []string{"give as many --corrupt as --clean prompts (got 2 --clean and 1 --corrupt)"}, 3},
		{[]string{"patch", "path", "--clean", "a", "--corrupt", "b", "--metric", "logit-diff:#1,#2"}, []string{"missing --receivers: give the receiver heads' inputs"}, 3},
		{[]string{"inspect", "--zzzzzz"}, []string{"unknown flag --zzzzzz", "usage: glia inspect"}, 3},
	} {
		_, errs, code := runCLI(t, "", tc.args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", tc.args, code, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%q: stderr %q lacks %q", tc.args, errs, w)
			}
		}
		if n := strings.Count(strings.TrimSpace(errs), "\n") + 1; n > tc.maxLines {
			t.Errorf("%q: %d lines of stderr, want at most %d:\n%s", tc.args, n, tc.maxLines, errs)
		}
		if strings.Contains(errs, "did you mean") && strings.Contains(errs, "zzzzzz") {
			t.Errorf("%q: suggested a flag for nonsense: %q", tc.args, errs)
		}
	}
}

// TestHelpSynopsis: every command's -h starts with a synopsis that names its
// positional arguments, then lists its flags, and exits 0.
func TestHelpSynopsis(t *testing.T) {
	for name, c := range commands {
		if name == "atlas" || name == "steer" {
			continue // groups print their sub-commands
		}
		_, errs, code := runCLI(t, "", append(strings.Fields(name), "-h")...)
		if code != 0 {
			t.Errorf("%s -h: exit %d", name, code)
		}
		if !strings.HasPrefix(errs, "usage: glia "+name) {
			t.Errorf("%s -h: does not start with its synopsis: %q", name, firstLine(errs))
		}
		if c.Args != "" && !strings.Contains(firstLine(errs), c.Args) {
			t.Errorf("%s -h: synopsis %q does not name %q", name, firstLine(errs), c.Args)
		}
	}
	_, errs, _ := runCLI(t, "", "atlas", "show", "-h")
	if !strings.HasPrefix(errs, "usage: glia atlas show [flags] HOOK:UNIT") {
		t.Errorf("atlas show -h: %q", firstLine(errs))
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errs, code := runCLI(t, "", args...)
		if code != 0 || !strings.HasPrefix(out, "glia ") || !strings.Contains(out, "GoMLX ") || !strings.Contains(out, "kernels: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	out, _, code := runCLI(t, "", "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 || v.Go == "" || v.Kernels == "" {
		t.Errorf("version --json: exit %d, %q, %v", code, out, err)
	}
	// What a release binary records (test binaries record no modules).
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/glia-dev/glia", Version: "v0.3.0"},
		Deps:     []*debug.Module{{Path: "github.com/gomlx/gomlx", Version: "v0.28.2"}, {Path: "github.com/gomlx/compute", Version: "v0.1.2"}},
		Settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "a47d698"}}}
	got := readVersion(bi)
	if got.Version != "v0.3.0" || got.GoMLX != "v0.28.2" || got.Compute != "v0.1.2" || got.Commit != "a47d698+dirty" {
		t.Errorf("readVersion = %+v", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"atals", "atlas", 1}, {"expain", "explain", 1},
		{"promt", "prompt", 1}, {"kitten", "sitting", 3}, {"", "run", 3}, {"ab", "ba", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
	if got := nearest("serv", []string{"serve", "steer", "run"}); len(got) != 1 || got[0] != "serve" {
		t.Errorf("nearest(serv) = %q", got)
	}
	if got := nearest("xq", []string{"run", "ids"}); len(got) != 0 {
		t.Errorf("nearest(xq) = %q, want nothing", got)
	}
}
