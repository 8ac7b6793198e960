package concepts

import "github.com/glia-dev/glia/engine"

// RunOptions are what Run does after collecting: which methods, with which
// parameters, and how their units are verified.
type RunOptions struct {
	Methods []Method
	Collect Options // Grad is set when a method needs it (CULNIG)
	Params  Params
	Verify  Mode    // "" or "none": no verification
	Amplify float64 // also verify with the units scaled by this factor (0: not)
	Batch   int     // windows per forward in verification
	// Collected, when set, is told of each corpus once its pass is done.
	Collected func(*Stats)
}

// Run is glia concepts' pipeline: one pass per corpus of find, each method's
// units, and each method's verification on eval (find's corpora when eval
// is nil), gathered into a Report. The CLI and the server both run it.
func Run(m *engine.Model, find, eval []Corpus, o RunOptions) (*Report, []*Result, error) {
	for _, x := range o.Methods {
		o.Collect.Grad = o.Collect.Grad || x == CULNIG
	}
	if eval == nil {
		eval = find
	}
	rep := &Report{Model: m.Name}
	var stats []*Stats
	for _, c := range find {
		s, err := Collect(m, c.Name, c.Windows, o.Collect)
		if err != nil {
			return nil, nil, err
		}
		stats = append(stats, s)
		rep.Corpora = append(rep.Corpora, CorpusReport{Name: s.Name, Windows: s.Windows, Tokens: s.Tokens, Sampled: len(s.Sample)})
		if o.Collected != nil {
			o.Collected(s)
		}
	}
	var results []*Result
	for _, meth := range o.Methods {
		r, err := Find(meth, stats, o.Params)
		if err != nil {
			return nil, nil, err
		}
		var ms []*Matrix
		if o.Verify != "" && o.Verify != "none" {
			mx, err := Verify(m, r, eval, VerifyOptions{Mode: o.Verify, Batch: o.Batch})
			if err != nil {
				return nil, nil, err
			}
			ms = append(ms, mx)
		}
		if o.Amplify != 0 {
			mx, err := Verify(m, r, eval, VerifyOptions{Mode: ModeScale, Factor: o.Amplify, Batch: o.Batch})
			if err != nil {
				return nil, nil, err
			}
			ms = append(ms, mx)
		}
		results = append(results, r)
		rep.Methods = append(rep.Methods, NewMethodReport(r, ms))
	}
	return rep, results, nil
}
