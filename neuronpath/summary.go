package neuronpath

// MethodSummary averages one method's paths over many inputs.
type MethodSummary struct {
	Method      string  `json:"method"`
	Code        float64 `json:"mean_jas_code"`
	Paper       float64 `json:"mean_jas_paper"`
	Deactivated float64 `json:"mean_prob_deactivated"`
	// Removed is the mean share of the probability that deactivating the
	// path removes, (p − p_deactivated)/p.
	Removed  float64 `json:"mean_share_removed"`
	Kept     float64 `json:"mean_prob_kept"`
	Enhanced float64 `json:"mean_prob_enhanced"`
	// Wins count inputs where this method's path is the most influential
	// of all: the lowest deactivated and the highest kept probability
	// (ties count for each).
	WinsDeactivated int `json:"wins_deactivated"`
	WinsKept        int `json:"wins_kept"`
}

// Summarise averages each method's paths over results, which must have
// been run with the same options (the same methods in the same order).
func Summarise(results []*Result) ([]MethodSummary, error) {
	if len(results) == 0 {
		return nil, errorf("no results to summarise")
	}
	n := float64(len(results))
	var out []MethodSummary
	for k, p := range results[0].Paths {
		ms := MethodSummary{Method: p.Method}
		for i, r := range results {
			if len(r.Paths) != len(results[0].Paths) || r.Paths[k].Method != p.Method {
				return nil, errorf("result %d has other methods than the first (%d paths)", i, len(r.Paths))
			}
			q := r.Paths[k]
			ms.Code += q.Code / n
			ms.Paper += q.Paper / n
			ms.Deactivated += q.Deactivated / n
			ms.Kept += q.Kept / n
			ms.Enhanced += q.Enhanced / n
			if r.Prob > 0 {
				ms.Removed += (r.Prob - q.Deactivated) / r.Prob / n
			}
			lowest, highest := true, true
			for _, o := range r.Paths {
				lowest = lowest && q.Deactivated <= o.Deactivated
				highest = highest && q.Kept >= o.Kept
			}
			if lowest {
				ms.WinsDeactivated++
			}
			if highest {
				ms.WinsKept++
			}
		}
		out = append(out, ms)
	}
	return out, nil
}
