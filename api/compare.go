package api

// CompareRequest is POST /api/compare: representation comparison (glia
// compare) between hooks of the server's model, or between its hooks and
// a recording sent in the request, over the prompts given.
type CompareRequest struct {
	A         string         `json:"a"`         // hook glob of the rows, e.g. blocks.*.hook_resid_post
	B         string         `json:"b"`         // hook glob of the columns; "" with no recording: A against itself
	Recording *CompareMatrix `json:"recording"` // the columns instead: a recording of the same stimuli
	Prompts   []string       `json:"prompts"`   // the stimuli, BOS added to each
	IDs       []string       `json:"ids"`       // the prompts' ids, aligning them with the recording's rows (optional)
	Pool      string         `json:"pool"`      // last (default), mean or pos:N
	Method    string         `json:"method"`    // cka (default), cka-debiased, cka-rbf, rsa, encoding or pls
	RDM       string         `json:"rdm"`       // rsa: euclidean, correlation (default) or cosine
	Compare   string         `json:"compare"`   // rsa: spearman (default), rho-a, tau-a, tau-b, pearson, cosine, cosine-whitened, pearson-whitened
	Topo      []float64      `json:"topo"`      // rsa: [low, up] quantiles of a geo-topological transform
	Geodesic  bool           `json:"geodesic"`  // rsa: then the geodesic transform
	DataRDM   string         `json:"data_rdm"`  // rsa with repetitions: the recording's RDM (also mahalanobis, crossnobis)
	Noise     string         `json:"noise"`     // with data_rdm mahalanobis or crossnobis: shrinkage-diag (default), shrinkage-eye, diag, full or none
}

// CompareMatrix is a recording: one or more repetitions (runs, sessions,
// subjects) of a stimuli × features matrix. With several, the answer
// carries its noise ceilings.
type CompareMatrix struct {
	Name string        `json:"name"` // its column's label
	IDs  []string      `json:"ids"`  // one per row; none: rows in prompt order
	Reps [][][]float64 `json:"reps"` // repetitions × stimuli × features
}

// CompareResponse is the matrix of similarities, rows × columns.
type CompareResponse struct {
	Title       string          `json:"title"`
	Method      string          `json:"method"` // the measure with its settings
	Stimuli     int             `json:"stimuli"`
	Rows        []string        `json:"rows"`
	Cols        []string        `json:"cols"`
	Values      [][]float64     `json:"values"`
	Ceiling     *CompareCeiling `json:"ceiling"`     // rsa over repetitions: rsatoolbox's noise ceiling
	Reliability *float64        `json:"reliability"` // encoding and pls over repetitions: the split-half Spearman–Brown ceiling
	Ceiled      []float64       `json:"ceiled"`      // the scores divided by reliability
}

// CompareCeiling bounds the score of the true model.
type CompareCeiling struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}
