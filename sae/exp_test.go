package sae

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExp(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	g := func(k string, def float64) float64 {
		if v := os.Getenv(k); v != "" {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
		return def
	}
	d, f := int(g("D", 32)), int(g("F", 128))
	p := newPlanted(d, f, 5, 1)
	p.exact = int(g("EXACT", 0))
	for _, arch := range strings.Split(os.Getenv("EXP"), ",") {
		n := int(g("N", float64(2*f)))
		o := DefaultOptions(arch, d, n)
		o.Hyper.LR = g("LR", 4e-3)
		steps := int(g("STEPS", 600))
		batch := int(g("B", 256))
		o.Hyper.Steps = steps
		o.Hyper.MinLRFrac = g("MINLR", 0.1)
		o.Hyper.Warmup = steps / 20
		o.DeadWindow = int(g("DW", 50))
		o.K = int(g("K", 5))
		o.L1 = g("L1", 0.1)
		o.L0 = g("L0", 0.02)
		o.CoefWarmup = int(g("CW", 100))
		o.InitThreshold = g("TH0", 0.01)
		o.Widths = []int{n / 4, n / 2}
		o.AuxKCoef = g("AUX", 1)
		tr, err := NewTrainer(o)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for s := range steps {
			st, err := tr.TrainStep(p.batch(batch), batch)
			if err != nil {
				t.Fatal(err)
			}
			if (s+1)%(steps/5) == 0 {
				t.Logf("%s step %d: rec %.4f L0 %.2f EV %.4f dead %d loss %.4f %.1fs", arch, s+1, recovery(p, tr.SAE(Metadata{}).WDec, n), st.L0, st.ExplainedVar, st.Dead, st.Loss, time.Since(start).Seconds())
			}
		}
	}
}
