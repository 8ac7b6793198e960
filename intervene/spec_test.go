package intervene

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"blocks.3.mlp.hook_post[:,117]=0", "blocks.3.mlp.hook_post[:][117]=0"},
		{"blocks.3.mlp.hook_post[:,117]*=4", "blocks.3.mlp.hook_post[:][117]*=4"},
		{"blocks.5.hook_resid_post[-1]+=4*@vec.safetensors:dog", "blocks.5.hook_resid_post[-1][:]+=4*@vec.safetensors:dog"},
		{"blocks.2.attn.hook_z[:,head=7]=mean", "blocks.2.attn.hook_z[:][7]=mean"},
		{"blocks.2.attn.hook_z[:, 7] = zero", "blocks.2.attn.hook_z[:][7]=zero"},
		{"blocks.0.hook_resid_pre[1,4][0:8]=resample", "blocks.0.hook_resid_pre[1,4][0:8]=resample"},
		{"blocks.0.hook_resid_pre[(1,4),2:]=1.5", "blocks.0.hook_resid_pre[1,4][2:]=1.5"},
		{"blocks.0.hook_resid_pre[2:5][:-1]-=2", "blocks.0.hook_resid_pre[2:5][:-1]+=-2"},
		{"blocks.0.hook_resid_pre+=-@v.safetensors", "blocks.0.hook_resid_pre[:][:]+=-1*@v.safetensors"},
		{"hook_embed=0", "hook_embed[:][:]=0"},
	} {
		s, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := s.String(); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		col  int
		want string
	}{
		{"", 1, "expected a hook name"},
		{"blocks.3.mlp.hook_post[:,117", 23, "unclosed ["},
		{"blocks.3.mlp.hook_post[:,117]", 30, "expected an operator"},
		{"blocks.3.mlp.hook_post[:,x]=0", 26, "expected an index"},
		{"blocks.3.mlp.hook_post[1,2,3]=0", 28, "too many indices"},
		{"blocks.3.mlp.hook_post[:,117]*=mean", 30, "mean is an ablation"},
		{"blocks.3.mlp.hook_post[:,117]=banana", 31, "\"banana\" is not a value"},
		{"blocks.3.mlp.hook_post[:,117]*=@v.safetensors", 30, "not multiplied"},
		{"blocks.3.mlp.hook_post[:][1][2]=0", 29, "at most two brackets"},
		{"blocks.3.mlp.hook_post[head=1]=0", 24, "selects units"},
		{"blocks.3.mlp.hook_post[:,1] = 4*@", 34, "expected a file after @"},
		{"blocks.3.mlp.hook_post[:,1]=x*@v", 29, "factor before @"},
		{"blocks..hook_post=0", 1, "malformed hook name"},
		{"blocks.3.mlp.hook_post[:,1]=0 junk", 29, "\"0 junk\" is not a value"},
		{"blocks.3.mlp.hook_post[-]=0", 24, "digits after the sign"},
		{"blocks.3.mlp.hook_post[:,1]=NaN", 29, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1] = nan", 31, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]*=Inf", 30, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]+=-Inf", 30, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]-=infinity", 30, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]*=1e308", 30, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]=-3.5e38", 29, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]=0x1p200", 29, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]=1e400", 29, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]+=NaN*@v.safetensors", 30, "not a finite float32"},
		{"blocks.3.mlp.hook_post[:,1]+=1e39*@v.safetensors:dog", 30, "not a finite float32"},
	} {
		_, err := Parse(tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): got %v, want a SyntaxError", tc.in, err)
			continue
		}
		if se.Col != tc.col || !strings.Contains(se.Msg, tc.want) {
			t.Errorf("Parse(%q): column %d %q, want column %d containing %q", tc.in, se.Col, se.Msg, tc.col, tc.want)
		}
	}
}

func TestSelResolve(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		err  string
	}{
		{"h[:]=0", 4, "[0 1 2 3]", ""},
		{"h[-1]=0", 4, "[3]", ""},
		{"h[1:3]=0", 4, "[1 2]", ""},
		{"h[3,1,1][:]=0", 4, "[1 3]", ""},
		{"h[-2:]=0", 4, "[2 3]", ""},
		{"h[4]=0", 4, "", "index 4 is out of range [0,4)"},
		{"h[-5]=0", 4, "", "index -5 is out of range"},
	} {
		s, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Pos.Resolve(tc.n)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmtInts(got) != tc.want {
			t.Errorf("%s: got %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
}

func fmtInts(v []int) string { return fmt.Sprint(v) }
