package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/experiment"
	"github.com/glia-dev/glia/intervene"
)

func TestWithFlags(t *testing.T) {
	per := &experiment.OptionError{Option: "per", Value: "head", Err: errors.New("needs a [batch,pos,head,d_head] hook")}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("plain"), "plain"},
		{per, "--per head: needs a [batch,pos,head,d_head] hook"},
		{fmt.Errorf("sweep: %w", per), "sweep: --per head: needs a [batch,pos,head,d_head] hook"},
		{&experiment.OptionError{Option: "kind", Value: "zz", Err: errors.New("no hook")}, "--hook zz: no hook"},
		{fmt.Errorf("intervention %q: %w", "x=mean", intervene.ErrNoMeans), `intervention "x=mean": ` + intervene.ErrNoMeans.Error() + " (pass --mean-corpus PATH or --atlas atlas.db)"},
		{fmt.Errorf("atlas a.db holds no statistics for h: %w", intervene.ErrUseCorpusMeans), "atlas a.db holds no statistics for h: " + intervene.ErrUseCorpusMeans.Error() + " (pass --mean-corpus PATH)"},
		{fmt.Errorf("corpus: x.jsonl:1: %w %q", corpus.ErrNoField, "text"), `corpus: x.jsonl:1: no field "text" (set --text-field)`},
	} {
		if got := withFlags(tc.err); got != tc.want {
			t.Errorf("withFlags(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestCLINamesFlags: errors the libraries word without flags reach the
// terminal with the flag that fixes them.
func TestCLINamesFlags(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "c.jsonl")
	if err := os.WriteFile(jsonl, []byte(`{"body": "Once upon a time"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"patch", "--clean", "Once upon a time", "--corrupt", "Once upon a dog", "--metric", "logit-diff:#1,#2", "--hook", "mlp_post", "--per", "head", "--out", filepath.Join(dir, "p")},
			"--per head: needs a [batch,pos,head,d_head] hook"},
		{[]string{"ablate", "--intervene", "blocks.0.mlp.hook_post=mean", "--corpus", "c=" + jsonl}, "(pass --mean-corpus PATH or --atlas atlas.db)"},
		{[]string{"ablate", "--intervene", "blocks.0.mlp.hook_post=0", "--corpus", "c=" + jsonl}, `no field "text" (set --text-field)`},
	} {
		_, errs, code := ivCLI(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args[0], code, errs, tc.want)
		}
	}
}
