package concepts

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// fabricate builds statistics for corpora a, b, c over n units of one hook,
// 40 windows of 20 tokens each, with unit planted firing (value ≈ 2) at 90%
// of b's tokens and 2% elsewhere; every other unit fires at 30% everywhere.
// CULNIG's scores are planted the same way.
func fabricate(n, planted int, seed uint64) []*Stats {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []*Stats
	for c, name := range []string{"a", "b", "c"} {
		s := &Stats{Name: name, Pos: make([]int64, n), Sum: make([]float64, n), SumSq: make([]float64, n), Grad: make([]float64, n), GradClamped: make([]float64, n)}
		for u := range n {
			s.Units = append(s.Units, Unit{Hook: "blocks.1.mlp.hook_post", Index: u})
		}
		for range 40 {
			w := Window{Tokens: 20, Max: make([]float32, n), Freq: make([]float32, n), Mean: make([]float32, n)}
			for u := range n {
				p := 0.3
				if u == planted {
					p = 0.02
					if c == 1 {
						p = 0.9
					}
				}
				mx, pos, sum := math.Inf(-1), 0, 0.0
				for range 20 {
					a := -0.1 * rng.Float64()
					if rng.Float64() < p {
						a = 0.5 + rng.Float64()
						if u == planted {
							a += 1.5
						}
					}
					mx, sum = math.Max(mx, a), sum+a
					if a > 0 {
						pos++
					}
					s.SumSq[u] += a * a
				}
				s.Pos[u] += int64(pos)
				s.Sum[u] += sum
				w.Max[u], w.Freq[u], w.Mean[u] = float32(mx), float32(pos)/20, float32(sum/20)
				g := rng.NormFloat64() * 0.01
				if u == planted && c == 1 {
					g += 0.2
				}
				s.Grad[u] += g
				s.GradClamped[u] += math.Max(g, 0)
			}
			s.Sample = append(s.Sample, w)
			s.Windows++
			s.Tokens += 20
		}
		out = append(out, s)
	}
	return out
}

func TestPlantedConceptNeuron(t *testing.T) {
	const planted = 37
	stats := fabricate(400, planted, 3)
	for _, m := range Methods {
		t.Run(string(m), func(t *testing.T) {
			r, err := Find(m, stats, Params{CULNIGRate: 0.005})
			if err != nil {
				t.Fatal(err)
			}
			for _, concept := range []string{"a", "b", "c"} {
				got := slices.Contains(r.Units(concept), Unit{Hook: "blocks.1.mlp.hook_post", Index: planted})
				if got != (concept == "b") {
					t.Errorf("planted unit %d found for concept %s: %v (rows %v)", planted, concept, got, r.Units(concept))
				}
			}
			for _, x := range r.Rows {
				if x.Concept == "b" && x.Unit == planted && (x.Layer != 1 || x.Link != "/neuron/blocks.1.mlp.hook_post/37") {
					t.Errorf("row names the unit wrongly: layer %d link %s", x.Layer, x.Link)
				}
			}
		})
	}
}

// TestAUROCPairs checks the rank formula against counting pairs.
func TestAUROCPairs(t *testing.T) {
	stats := fabricate(20, 3, 5)
	// Ties matter: round some responses.
	for _, s := range stats {
		for _, w := range s.Sample {
			w.Max[4] = float32(math.Round(float64(w.Max[4])))
		}
	}
	got := aurocs(stats)
	for u := range 20 {
		for c := range stats {
			var wins float64
			var pairs int
			for k, o := range stats {
				if k == c {
					continue
				}
				for _, x := range stats[c].Sample {
					for _, y := range o.Sample {
						pairs++
						switch {
						case x.Max[u] > y.Max[u]:
							wins++
						case x.Max[u] == y.Max[u]:
							wins += 0.5
						}
					}
				}
			}
			if want := wins / float64(pairs); math.Abs(got[u][c]-want) > 1e-12 {
				t.Fatalf("unit %d corpus %d: AUROC %v, counting pairs %v", u, c, got[u][c], want)
			}
		}
	}
	if a := alpha(0.9); math.Abs(a-0.2) > 1e-12 || alpha(0.3) != 1 {
		t.Errorf("alpha(0.9) = %v, alpha(0.3) = %v; want 0.2 and 1", a, alpha(0.3))
	}
}

// TestLAPEByHand: three units over two corpora, worked through by hand.
func TestLAPEByHand(t *testing.T) {
	mk := func(name string, pos ...int64) *Stats {
		s := &Stats{Name: name, Tokens: 100, Pos: pos, Sum: make([]float64, len(pos)), SumSq: make([]float64, len(pos))}
		for i := range pos {
			s.Units = append(s.Units, Unit{Hook: "h", Index: i})
		}
		return s
	}
	// p = [[.9 .1] [.5 .5] [.2 .0]]: kthvalue(round(6·0.5) = 3) over
	// {0 .1 .2 .5 .5 .9} is 0.2; unit 2 has no p > 0.2 and is dropped;
	// unit 0's entropy (0.325) is below unit 1's (ln 2): with TopRate 1/3
	// (one unit) it is kept and assigned to a only.
	stats := []*Stats{mk("a", 90, 50, 20), mk("b", 10, 50, 0)}
	r, err := Find(LAPE, stats, Params{TopRate: 1.0 / 3, Bar: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 1 || r.Rows[0].Concept != "a" || r.Rows[0].Unit != 0 {
		t.Fatalf("rows %+v, want unit 0 for a", r.Rows)
	}
	if h := -(0.9*math.Log(0.9) + 0.1*math.Log(0.1)); math.Abs(r.Rows[0].Score-h) > 1e-12 {
		t.Errorf("entropy %v, want %v", r.Rows[0].Score, h)
	}
	// With two units kept, unit 1 is assigned to both corpora.
	r, _ = Find(LAPE, stats, Params{TopRate: 2.0 / 3, Bar: 0.5})
	if len(r.Rows) != 3 {
		t.Errorf("rows %+v, want unit 0 for a and unit 1 for a and b", r.Rows)
	}
}

// TestBootstrapCovers: the 95% interval of the planted frequency difference
// holds the value computed from the exact counts.
func TestBootstrapCovers(t *testing.T) {
	stats := fabricate(50, 7, 9)
	r, err := Find(FreqDiff, stats, Params{Rate: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range r.Rows {
		if x.Concept == "b" && x.Unit == 7 {
			d := x.Freq - x.FreqRest
			if !(x.Lo < d && d < x.Hi) || x.Hi-x.Lo > 0.1 || x.Lo < 0.8 {
				t.Errorf("difference %v, interval [%v, %v]", d, x.Lo, x.Hi)
			}
			return
		}
	}
	t.Fatal("planted unit not found")
}

// TestAurAScales: AurA dampens every unit whose AUROC is above 0.5 by its
// own α (for an AUROC result); other results' rows carry their α.
func TestAurAScales(t *testing.T) {
	stats := fabricate(60, 11, 4)
	r, err := Find(AUROC, stats, Params{})
	if err != nil {
		t.Fatal(err)
	}
	auc := aurocs(stats)
	got, err := scales(r, "b", VerifyOptions{Mode: ModeAurA})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for u := range auc {
		if auc[u][1] > 0.5 {
			n++
			if a := got[stats[0].Units[u]]; math.Abs(a-(1-2*(auc[u][1]-0.5))) > 1e-12 {
				t.Errorf("unit %d: α %v for AUROC %v", u, a, auc[u][1])
			}
		}
	}
	if len(got) != n || got[stats[0].Units[11]] > 0.1 {
		t.Errorf("%d units dampened, want %d; planted α %v", len(got), n, got[stats[0].Units[11]])
	}
	l, err := Find(LAPE, stats, Params{TopRate: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = scales(l, "b", VerifyOptions{Mode: ModeAurA})
	if len(got) != len(l.Units("b")) {
		t.Errorf("LAPE with AurA dampening: %d units, want its %d", len(got), len(l.Units("b")))
	}
}
