package experiment

import (
	"strconv"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// check compares a parser's result and error text with the wanted ones
// (wantErr "" = no error).
func check[T comparable](t *testing.T, in string, got T, err error, want T, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("%q: %v", in, err)
	case wantErr != "" && (err == nil || err.Error() != wantErr):
		t.Errorf("%q: error %v, want %q", in, err, wantErr)
	case wantErr == "" && got != want:
		t.Errorf("%q: got %v, want %v", in, got, want)
	}
}

func TestParseKind(t *testing.T) {
	const want = `: want resid_pre, resid_mid, resid_post, attn_out, mlp_out, q, k, v, z, mlp_pre or mlp_post`
	for _, c := range []struct {
		in   string
		want Kind
		hook string // at layer 3
		err  string
	}{
		{"", ResidPre, "blocks.3.hook_resid_pre", ""},
		{"resid_mid", ResidMid, "blocks.3.hook_resid_mid", ""},
		{"attn_out", AttnOut, "blocks.3.hook_attn_out", ""},
		{"z", Z, "blocks.3.attn.hook_z", ""},
		{"q", Q, "blocks.3.attn.hook_q", ""},
		{"mlp_post", MLPPost, "blocks.3.mlp.hook_post", ""},
		{"post", MLPPost, "blocks.3.mlp.hook_post", ""},
		{"pre", MLPPre, "blocks.3.mlp.hook_pre", ""},
		{"pattern", "", "", `experiment: kind "pattern"` + want},
		{"Resid_pre", "", "", `experiment: kind "Resid_pre"` + want},
		{"blocks.0.hook_resid_pre", "", "", `experiment: kind "blocks.0.hook_resid_pre"` + want},
	} {
		got, err := ParseKind(c.in)
		check(t, c.in, got, err, c.want, c.err)
		if err == nil && (got.Hook(3) != c.hook || got.String() != string(c.want)) {
			t.Errorf("%q: hook %s, string %s", c.in, got.Hook(3), got)
		}
	}
}

func TestParsePer(t *testing.T) {
	for _, c := range []struct {
		in, axis string
		want     Per
		err      string
	}{
		{"", "position", PerPos, ""},
		{"pos", "position", PerPos, ""},
		{"head", "head", PerHead, ""},
		{"neuron", "unit", PerNeuron, ""},
		{"layer", "", PerLayer, ""},
		{"unit", "", "", `experiment: per "unit": want pos, head, neuron or layer`},
		{" pos", "", "", `experiment: per " pos": want pos, head, neuron or layer`},
	} {
		got, err := ParsePer(c.in)
		check(t, c.in, got, err, c.want, c.err)
		if err == nil && got.Axis() != c.axis {
			t.Errorf("%q: axis %q, want %q", c.in, got.Axis(), c.axis)
		}
	}
}

func TestParseMetric(t *testing.T) {
	const form = `: want logit-diff:TOKA,TOKB (tokens as text, or #ID)`
	for _, c := range []struct {
		in   string
		want Metric
		err  string
	}{
		{"logit-diff:Lily,Tim", Metric{"Lily", "Tim"}, ""},
		{"logit-diff:#5,#7", Metric{"#5", "#7"}, ""},
		{"logit-diff: Lily,a,b", Metric{" Lily", "a,b"}, ""}, // tokens keep their spaces; the first comma splits
		{"", Metric{}, `experiment: metric ""` + form},
		{"Lily,Tim", Metric{}, `experiment: metric "Lily,Tim"` + form},
		{"logit-diff:Lily", Metric{}, `experiment: metric "logit-diff:Lily"` + form},
		{"logit-diff:,Tim", Metric{}, `experiment: metric "logit-diff:,Tim": a token is empty; want logit-diff:TOKA,TOKB (tokens as text, or #ID)`},
	} {
		got, err := ParseMetric(c.in)
		check(t, c.in, got, err, c.want, c.err)
		if err == nil && got.String() != c.in {
			t.Errorf("%q: String() = %q", c.in, got.String())
		}
	}
}

func TestMetricTokens(t *testing.T) {
	tiny := fixture(t, "gpt2") // no tokenizer
	stories, err := engine.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	lily := stories.Tokenizer.Encode("Lily", false)
	if len(lily) != 1 {
		t.Fatalf("Lily is %d tokens in stories260K", len(lily))
	}
	v := tiny.Dims().Vocab
	for _, c := range []struct {
		m      *engine.Model
		metric string
		a, b   int32
		err    string
	}{
		{tiny, "logit-diff:#3,#0", 3, 0, ""},
		{tiny, "logit-diff:#3,#" + strconv.Itoa(v), 0, 0, `experiment: metric "logit-diff:#3,#` + strconv.Itoa(v) + `": "#` + strconv.Itoa(v) + `" is not a token id in [0,` + strconv.Itoa(v) + `)`},
		{tiny, "logit-diff:#x,#1", 0, 0, `experiment: metric "logit-diff:#x,#1": "#x" is not a token id in [0,` + strconv.Itoa(v) + `)`},
		{tiny, "logit-diff:Lily,#1", 0, 0, `experiment: metric "logit-diff:Lily,#1": ` + tiny.Name + ` has no tokenizer: give tokens as #ID`},
		{stories, "logit-diff:Lily,#7", int32(lily[0]), 7, ""},
		// " Tim" is one vocabulary entry (#326) although encoding the text
		// " Tim" gives two tokens (SentencePiece's added space).
		{stories, "logit-diff: Tim,#7", 326, 7, ""},
	} {
		mt, err := ParseMetric(c.metric)
		if err != nil {
			t.Fatal(err)
		}
		a, b, err := mt.Tokens(c.m)
		check(t, c.metric, [2]int32{a, b}, err, [2]int32{c.a, c.b}, c.err)
	}
	// A word of several tokens is refused, with its pieces.
	mt, _ := ParseMetric("logit-diff:Tom,Lily")
	if _, _, err := mt.Tokens(stories); err == nil || !strings.Contains(err.Error(), `"Tom" is 2 tokens (`) {
		t.Errorf("Tom: %v", err)
	}
}
