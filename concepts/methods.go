package concepts

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// Method names a way of finding concept units.
type Method string

const (
	LAPE     Method = "lape"      // Tang et al. 2024
	LNA      Method = "lna"       // Zhang et al. 2025: specific / related / general
	AUROC    Method = "auroc"     // AurA's expert score
	FreqDiff Method = "freq-diff" // P(act > 0) in the concept − in the rest
	MeanDiff Method = "mean-diff" // mean activation in the concept − in the rest
	CULNIG   Method = "culnig"    // activation × gradient
)

// Methods lists every method in the order the CLI runs them.
var Methods = []Method{LAPE, LNA, AUROC, FreqDiff, MeanDiff, CULNIG}

// ParseMethods reads a comma-separated list ("all" = every method).
func ParseMethods(s string) ([]Method, error) {
	if s == "" || s == "all" {
		return Methods, nil
	}
	var out []Method
	for _, f := range strings.Split(s, ",") {
		m := Method(strings.TrimSpace(f))
		found := false
		for _, k := range Methods {
			found = found || k == m
		}
		if !found {
			return nil, errorf("methods", "unknown method %q (lape, lna, auroc, freq-diff, mean-diff, culnig, all)", m)
		}
		out = append(out, m)
	}
	return out, nil
}

// Params are the methods' settings; zero values take the authors' defaults.
type Params struct {
	TopRate    float64 // LAPE and LNA: fraction of all units kept (0.01)
	Bar        float64 // LAPE and LNA: percentile of all probabilities a corpus must exceed (0.95)
	Lambda     float64 // LNA's λ (0.109375)
	Rate       float64 // AUROC and the differences: fraction of units per concept (0.01)
	CULNIGRate float64 // CULNIG: fraction of units per concept before the z-score (0.003)
	ZScore     float64 // CULNIG: z-score across concepts a unit needs (0.5)
	Control    string  // CULNIG: the control corpus subtracted ("" = none)
	Bootstrap  int     // resamples for the differences' intervals (500)
	Seed       uint64
}

func (p Params) withDefaults() Params {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&p.TopRate, 0.01)
	def(&p.Bar, 0.95)
	def(&p.Lambda, 0.109375)
	def(&p.Rate, 0.01)
	def(&p.CULNIGRate, 0.003)
	def(&p.ZScore, 0.5)
	if p.Bootstrap <= 0 {
		p.Bootstrap = 500
	}
	return p
}

// Row is one unit found for one concept by one method.
type Row struct {
	Method  Method  `json:"method"`
	Concept string  `json:"concept"`
	Hook    string  `json:"hook"`
	Unit    int     `json:"unit"`
	Layer   int     `json:"layer"` // -1 when the hook has no layer
	Name    string  `json:"name"`  // HOOK:UNIT
	Link    string  `json:"link"`  // the unit's page under glia serve
	Score   float64 `json:"score"` // the method's score (LAPE: entropy; LNA: H/log L − λ·max p/norm_max; AUROC; difference; CULNIG score)
	Kind    string  `json:"kind,omitempty"`
	// Freq and Mean are the unit's P(act > 0) and mean in the concept's
	// corpus, FreqRest and MeanRest in the other corpora pooled.
	Freq     float64 `json:"freq"`
	FreqRest float64 `json:"freq_rest"`
	Mean     float64 `json:"mean"`
	MeanRest float64 `json:"mean_rest"`
	AUROC    float64 `json:"auroc"`
	Alpha    float64 `json:"alpha"` // AurA's dampening factor 1 − 2(AUROC − 0.5), 1 at AUROC ≤ 0.5
	// Lo and Hi bound the difference the method selected by (95% bootstrap
	// over windows); NaN for other methods.
	Lo float64 `json:"ci_lo"`
	Hi float64 `json:"ci_hi"`
}

// Result is one method's units for every concept.
type Result struct {
	Method   Method
	Concepts []string
	Rows     []Row
	// Alpha is AurA's factor for every unit per concept (AUROC only): the
	// dampening Verify applies with ModeAurA.
	Alpha map[string][]float64
	All   []Unit // every unit the statistics hold, in Alpha's order
}

// Units is the units of one concept.
func (r *Result) Units(concept string) []Unit {
	var out []Unit
	for _, x := range r.Rows {
		if x.Concept == concept {
			out = append(out, Unit{Hook: x.Hook, Index: x.Unit})
		}
	}
	return out
}

// Find runs one method over per-corpus statistics (same units, same order).
func Find(method Method, stats []*Stats, p Params) (*Result, error) {
	if len(stats) < 2 {
		return nil, errorf(string(method), "need at least 2 corpora, got %d", len(stats))
	}
	for _, s := range stats[1:] {
		if len(s.Units) != len(stats[0].Units) {
			return nil, errorf(string(method), "corpora %s and %s have different units", stats[0].Name, s.Name)
		}
	}
	p = p.withDefaults()
	var r *Result
	var err error
	switch method {
	case LAPE:
		r = lape(stats, p)
	case LNA:
		r = lna(stats, p)
	case AUROC:
		r = aurocMethod(stats, p)
	case FreqDiff, MeanDiff:
		r = diffMethod(method, stats, p)
	case CULNIG:
		r, err = culnig(stats, p)
	default:
		return nil, errorf("methods", "unknown method %q", method)
	}
	if err != nil {
		return nil, err
	}
	r.All = stats[0].Units
	annotate(r, stats)
	return r, nil
}

// probs is P(act > 0) per unit per corpus, [unit][corpus].
func probs(stats []*Stats) [][]float64 {
	out := make([][]float64, len(stats[0].Units))
	for u := range out {
		out[u] = make([]float64, len(stats))
		for c, s := range stats {
			out[u][c] = s.Freq(u)
		}
	}
	return out
}

// kth is torch.kthvalue over every probability: the k-th smallest, k =
// round(n·ratio) (1-based), as both language-neuron repositories take it.
func kth(p [][]float64, ratio float64) float64 {
	var flat []float64
	for _, r := range p {
		flat = append(flat, r...)
	}
	sort.Float64s(flat)
	k := int(math.RoundToEven(float64(len(flat)) * ratio)) // Python's round
	return flat[min(max(k, 1), len(flat))-1]
}

// normEntropy is the entropy of p normalised to sum 1 (0 when all are 0).
func normEntropy(p []float64) float64 {
	var s float64
	for _, v := range p {
		s += v
	}
	if s == 0 {
		return 0
	}
	var h float64
	for _, v := range p {
		if v > 0 {
			q := v / s
			h -= q * math.Log(q)
		}
	}
	return h
}

// lowest is the indices of the k smallest scores (ties by index).
func lowest(score []float64, k int) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	return idx[:min(max(k, 0), len(idx))]
}

// assign adds a row for every corpus whose probability exceeds bar.
func assign(r *Result, stats []*Stats, p [][]float64, units []int, score []float64, bar float64, kind func(n int) string) {
	for _, u := range units {
		var cs []int
		for c := range stats {
			if p[u][c] > bar {
				cs = append(cs, c)
			}
		}
		for _, c := range cs {
			r.Rows = append(r.Rows, Row{Method: r.Method, Concept: stats[c].Name, Hook: stats[0].Units[u].Hook, Unit: stats[0].Units[u].Index, Score: score[u], Kind: kind(len(cs))})
		}
	}
}

func names(stats []*Stats) []string {
	out := make([]string, len(stats))
	for i, s := range stats {
		out[i] = s.Name
	}
	return out
}

// lape: entropy of the normalised probabilities; units where no corpus
// exceeds the percentile are dropped; the lowest-entropy TopRate of all
// units kept, each assigned to every corpus above the percentile.
func lape(stats []*Stats, o Params) *Result {
	p := probs(stats)
	bar := kth(p, o.Bar)
	ent := make([]float64, len(p))
	for u, row := range p {
		ent[u] = math.Inf(1)
		for _, v := range row {
			if v > bar {
				ent[u] = normEntropy(row)
				break
			}
		}
	}
	r := &Result{Method: LAPE, Concepts: names(stats)}
	k := int(math.RoundToEven(float64(len(p)) * o.TopRate))
	assign(r, stats, p, lowest(ent, k), ent, bar, func(int) string { return "" })
	return r
}

// lna: score = H/log L − λ·max p / norm_max with norm_max = (Σ_{k≤L} 1/k)/L;
// the lowest TopRate of all units kept, each assigned to every corpus above
// the percentile: one corpus = specific, all = general, else related.
func lna(stats []*Stats, o Params) *Result {
	p := probs(stats)
	bar := kth(p, o.Bar)
	L := len(stats)
	var normMax float64
	for k := 1; k <= L; k++ {
		normMax += 1 / float64(k)
	}
	normMax /= float64(L)
	score := make([]float64, len(p))
	for u, row := range p {
		mx := 0.0
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		score[u] = normEntropy(row)/math.Log(float64(L)) - mx*o.Lambda/normMax
	}
	r := &Result{Method: LNA, Concepts: names(stats)}
	k := int(math.RoundToEven(float64(len(p)) * o.TopRate))
	assign(r, stats, p, lowest(score, k), score, bar, func(n int) string {
		switch n {
		case 1:
			return "specific"
		case L:
			return "general"
		}
		return "related"
	})
	return r
}

// aurocs is, per unit, the AUROC of each corpus's pooled window responses
// against all other corpora's, [unit][corpus] (ties take average ranks,
// so it equals the Mann–Whitney U / (n₁n₀), sklearn's roc_auc_score).
func aurocs(stats []*Stats) [][]float64 {
	type obs struct {
		v float32
		c int
	}
	var total int
	for _, s := range stats {
		total += len(s.Sample)
	}
	out := make([][]float64, len(stats[0].Units))
	all := make([]obs, 0, total)
	for u := range out {
		all = all[:0]
		for c, s := range stats {
			for _, w := range s.Sample {
				all = append(all, obs{w.Max[u], c})
			}
		}
		sort.Slice(all, func(a, b int) bool { return all[a].v < all[b].v })
		rank := make([]float64, len(stats))
		for i := 0; i < len(all); {
			j := i
			for j < len(all) && all[j].v == all[i].v {
				j++
			}
			avg := float64(i+j+1) / 2 // ranks i+1..j
			for k := i; k < j; k++ {
				rank[all[k].c] += avg
			}
			i = j
		}
		out[u] = make([]float64, len(stats))
		for c, s := range stats {
			n1, n0 := float64(len(s.Sample)), float64(len(all)-len(s.Sample))
			out[u][c] = (rank[c] - n1*(n1+1)/2) / (n1 * n0)
		}
	}
	return out
}

// alpha is AurA's dampening factor.
func alpha(auc float64) float64 {
	if auc > 0.5 {
		return 1 - 2*(auc-0.5)
	}
	return 1
}

// topPerConcept keeps, for each concept, the round(units·rate) units with
// the largest score[unit][concept] among those with keep true.
func topPerConcept(r *Result, stats []*Stats, score [][]float64, rate float64, keep func(u, c int) bool) {
	k := max(int(math.Round(float64(len(score))*rate)), 1)
	neg := make([]float64, len(score))
	for c, s := range stats {
		for u := range score {
			neg[u] = -score[u][c]
		}
		n := 0
		for _, u := range lowest(neg, len(neg)) {
			if n == k {
				break
			}
			if !keep(u, c) {
				continue
			}
			r.Rows = append(r.Rows, Row{Method: r.Method, Concept: s.Name, Hook: s.Units[u].Hook, Unit: s.Units[u].Index, Score: score[u][c]})
			n++
		}
	}
}

func aurocMethod(stats []*Stats, o Params) *Result {
	auc := aurocs(stats)
	r := &Result{Method: AUROC, Concepts: names(stats), Alpha: map[string][]float64{}}
	for c, s := range stats {
		a := make([]float64, len(auc))
		for u := range auc {
			a[u] = alpha(auc[u][c])
		}
		r.Alpha[s.Name] = a
	}
	topPerConcept(r, stats, auc, o.Rate, func(u, c int) bool { return auc[u][c] > 0.5 })
	return r
}

// pooled is a unit's frequency or mean over the corpora in, from the exact
// counts.
func pooled(stats []*Stats, u int, in func(c int) bool, mean bool) float64 {
	var num float64
	var den int64
	for c, s := range stats {
		if !in(c) {
			continue
		}
		if mean {
			num += s.Sum[u]
		} else {
			num += float64(s.Pos[u])
		}
		den += s.Tokens
	}
	return num / float64(max(den, 1))
}

// diffs is concept − rest per unit per corpus.
func diffs(stats []*Stats, mean bool) [][]float64 {
	out := make([][]float64, len(stats[0].Units))
	for u := range out {
		out[u] = make([]float64, len(stats))
		for c := range stats {
			out[u][c] = pooled(stats, u, func(k int) bool { return k == c }, mean) - pooled(stats, u, func(k int) bool { return k != c }, mean)
		}
	}
	return out
}

func diffMethod(m Method, stats []*Stats, o Params) *Result {
	mean := m == MeanDiff
	d := diffs(stats, mean)
	r := &Result{Method: m, Concepts: names(stats)}
	topPerConcept(r, stats, d, o.Rate, func(u, c int) bool { return d[u][c] > 0 })
	index := unitIndex(stats[0].Units)
	rng := rand.New(rand.NewPCG(o.Seed, 0x6c6170))
	for i := range r.Rows {
		x := &r.Rows[i]
		c := corpusIndex(stats, x.Concept)
		x.Lo, x.Hi = bootstrap(stats, index[Unit{x.Hook, x.Unit}], c, mean, o.Bootstrap, rng)
	}
	return r
}

// bootstrap is the 95% percentile interval of concept − rest for unit u,
// resampling each corpus's sampled windows with replacement (stratified),
// the pooled value being Σ count / Σ tokens over the resampled windows.
func bootstrap(stats []*Stats, u, concept int, mean bool, n int, rng *rand.Rand) (lo, hi float64) {
	val := func(w Window) float64 {
		if mean {
			return float64(w.Mean[u]) * float64(w.Tokens)
		}
		return float64(w.Freq[u]) * float64(w.Tokens)
	}
	est := make([]float64, n)
	for b := range n {
		var cn, ct, rn, rt float64
		for c, s := range stats {
			var num, den float64
			for range s.Sample {
				w := s.Sample[rng.IntN(len(s.Sample))]
				num += val(w)
				den += float64(w.Tokens)
			}
			if c == concept {
				cn, ct = cn+num, ct+den
			} else {
				rn, rt = rn+num, rt+den
			}
		}
		est[b] = cn/math.Max(ct, 1) - rn/math.Max(rt, 1)
	}
	sort.Float64s(est)
	return quantile(est, 0.025), quantile(est, 0.975)
}

// quantile of sorted x, linear between order statistics (numpy's default).
func quantile(x []float64, q float64) float64 {
	h := q * float64(len(x)-1)
	i := int(math.Floor(h))
	if i+1 >= len(x) {
		return x[len(x)-1]
	}
	return x[i] + (h-float64(i))*(x[i+1]-x[i])
}

// culnig: per corpus the mean window score; the control corpus's (windows
// clamped at 0) subtracted; the top CULNIGRate of units per concept; those
// whose z-score across concepts is below ZScore dropped.
func culnig(stats []*Stats, o Params) (*Result, error) {
	var ctrl []float64
	var concepts []*Stats
	for _, s := range stats {
		if s.Grad == nil {
			return nil, errorf("culnig", "corpus %s was collected without gradients", s.Name)
		}
		if s.Name == o.Control {
			ctrl = make([]float64, len(s.Grad))
			for u, v := range s.GradClamped {
				ctrl[u] = v / float64(s.Windows)
			}
			continue
		}
		concepts = append(concepts, s)
	}
	if o.Control != "" && ctrl == nil {
		return nil, errorf("culnig", "control corpus %q is not among the corpora", o.Control)
	}
	if len(concepts) < 2 {
		return nil, errorf("culnig", "need at least 2 concept corpora besides the control")
	}
	score := make([][]float64, len(stats[0].Units))
	for u := range score {
		score[u] = make([]float64, len(concepts))
		for c, s := range concepts {
			score[u][c] = s.Grad[u] / float64(s.Windows)
			if ctrl != nil {
				score[u][c] -= ctrl[u]
			}
		}
	}
	r := &Result{Method: CULNIG, Concepts: names(concepts)}
	topPerConcept(r, concepts, score, o.CULNIGRate, func(u, c int) bool {
		var m, v float64
		for _, x := range score[u] {
			m += x
		}
		m /= float64(len(score[u]))
		for _, x := range score[u] {
			v += (x - m) * (x - m)
		}
		sd := math.Sqrt(v / float64(len(score[u])))
		return sd > 0 && (score[u][c]-m)/sd >= o.ZScore
	})
	return r, nil
}

func unitIndex(units []Unit) map[Unit]int {
	m := make(map[Unit]int, len(units))
	for i, u := range units {
		m[u] = i
	}
	return m
}

func corpusIndex(stats []*Stats, name string) int {
	for c, s := range stats {
		if s.Name == name {
			return c
		}
	}
	return -1
}

// annotate fills each row's descriptive columns.
func annotate(r *Result, stats []*Stats) {
	index := unitIndex(stats[0].Units)
	var auc [][]float64
	if len(r.Rows) > 0 {
		auc = aurocs(stats)
	}
	for i := range r.Rows {
		x := &r.Rows[i]
		u, c := index[Unit{x.Hook, x.Unit}], corpusIndex(stats, x.Concept)
		un := Unit{x.Hook, x.Unit}
		x.Name, x.Link, x.Layer = un.Name(), un.Link(), layerOf(x.Hook)
		x.Freq, x.Mean = stats[c].Freq(u), stats[c].Mean(u)
		x.FreqRest = pooled(stats, u, func(k int) bool { return k != c }, false)
		x.MeanRest = pooled(stats, u, func(k int) bool { return k != c }, true)
		x.AUROC = auc[u][c]
		x.Alpha = alpha(x.AUROC)
		if r.Method != FreqDiff && r.Method != MeanDiff {
			x.Lo, x.Hi = math.NaN(), math.NaN()
		}
	}
}

// layerOf reads N from "blocks.N.…" (-1 otherwise).
func layerOf(hook string) int {
	rest, ok := strings.CutPrefix(hook, "blocks.")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
	if err != nil {
		return -1
	}
	return n
}
