package experiment

import (
	"math"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestPathPatch: with every head of layer 0 as sender and every input of
// every layer-1 head as receiver, path patching equals running clean with
// layer 1's attention output taken from a run where layer 0's heads are
// corrupt and its MLP frozen to clean. An empty sender set changes nothing.
func TestPathPatch(t *testing.T) {
	for _, fam := range []string{"gpt2", "llama"} {
		m := fixture(t, fam)
		d := m.Dims()
		p := Pair{Clean: []int32{5, 6, 7, 8, 9, 10}, Corrupt: []int32{5, 60, 7, 80, 9, 10}, A: 3, B: 4}
		var all []Head
		for h := range d.Heads {
			all = append(all, Head{0, h})
		}
		var recv []Receiver
		for h := range d.Heads {
			recv = append(recv, Receiver{1, h, 'q'})
		}
		for h := range d.KVHeads {
			recv = append(recv, Receiver{1, h, 'k'}, Receiver{1, h, 'v'})
		}
		r, err := PathPatch(m, []Pair{p}, [][]Head{all, nil, {{0, 1}}}, recv, 4)
		if err != nil {
			t.Fatal(err)
		}
		// By hand.
		ids := [][]int32{p.Clean}
		hz, hm, ha := "blocks.0.attn.hook_z", "blocks.0.hook_mlp_out", "blocks.1.hook_attn_out"
		clean, _ := m.Run(engine.Request{IDs: ids, Hooks: []string{hm}})
		cor, _ := m.Run(engine.Request{IDs: [][]int32{p.Corrupt}, Hooks: []string{hz}})
		step1, err := m.Run(engine.Request{IDs: ids, Hooks: []string{ha}, NoLogits: true, Interventions: []engine.Intervention{
			setRows(hz, 1, 0, nil, cor.Acts[hz].Data, 1), setRows(hm, 1, 0, nil, clean.Acts[hm].Data, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		step2, err := m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{setRows(ha, 1, 0, nil, step1.Acts[ha].Data, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		want := metricAt(step2.Logits, 0, p)
		pp := r.Pairs[0]
		if math.Abs(pp.Patched[0]-want) > 1e-4 {
			t.Errorf("%s: path patched %g, by hand %g", fam, pp.Patched[0], want)
		}
		if math.Abs(pp.Patched[1]-pp.Clean) > 1e-4 {
			t.Errorf("%s: no senders gives %g, clean %g", fam, pp.Patched[1], pp.Clean)
		}
		if math.Abs(want-pp.Clean) < 1e-5 {
			t.Errorf("%s: the path has no effect; the test proves nothing", fam)
		}
	}
}

func TestParseReceivers(t *testing.T) {
	r, err := ParseReceivers("9.6q, 10.0")
	if err != nil || len(r) != 4 || r[0] != (Receiver{9, 6, 'q'}) || r[3] != (Receiver{10, 0, 'v'}) {
		t.Fatalf("got %v %v", r, err)
	}
	if _, err := ParseReceivers("9"); err == nil {
		t.Fatal("9 parsed as a receiver")
	}
}
