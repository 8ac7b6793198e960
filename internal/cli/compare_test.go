package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/glia-dev/glia/compare"
	"github.com/glia-dev/glia/compare/source"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
)

type compareOut struct {
	Rows, Cols []string
	Values     [][]float64
	Stimuli    int
}

func runCompareJSON(t *testing.T, args ...string) compareOut {
	t.Helper()
	out, errs, code := runCLI(t, "", append([]string{"compare", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r compareOut
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return r
}

// TestCompareHooksSelf: the embedded model's residual stream against
// itself is a symmetric layer × layer matrix with ones on the diagonal,
// for CKA and RSA alike.
func TestCompareHooksSelf(t *testing.T) {
	dir := t.TempDir()
	prompts := filepath.Join(dir, "p.txt")
	text := "Once upon a time\nThe cat sat on the mat\nLily went to the park\nTim had a red ball\nThe sun was hot\nShe was very happy\n"
	if err := os.WriteFile(prompts, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, method := range [][]string{{"--method", "cka"}, {"--method", "cka-debiased"}, {"--method", "rsa", "--rdm", "correlation", "--compare", "pearson"}} {
		t.Run(method[1], func(t *testing.T) {
			png := filepath.Join(dir, method[1]+".png")
			r := runCompareJSON(t, append(method, "--prompts", prompts, "--pool", "mean", "--plot", png, "hooks:blocks.*.hook_resid_post")...)
			if len(r.Rows) < 2 || len(r.Rows) != len(r.Cols) || r.Stimuli != 6 {
				t.Fatalf("got %d×%d over %d stimuli", len(r.Rows), len(r.Cols), r.Stimuli)
			}
			for i := range r.Values {
				if math.Abs(r.Values[i][i]-1) > 1e-9 {
					t.Errorf("[%d][%d] = %g, want 1", i, i, r.Values[i][i])
				}
				for j := range r.Values {
					if math.Abs(r.Values[i][j]-r.Values[j][i]) > 1e-9 {
						t.Errorf("[%d][%d] = %g but [%d][%d] = %g", i, j, r.Values[i][j], j, i, r.Values[j][i])
					}
				}
			}
			if st, err := os.Stat(png); err != nil || st.Size() == 0 {
				t.Errorf("no heat map: %v", err)
			}
		})
	}
}

// writeNPY writes rows as a float64 .npy file.
func writeNPY(t *testing.T, path string, rows [][]float64) {
	h := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", len(rows), len(rows[0]))
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	for _, r := range rows {
		binary.Write(&b, binary.LittleEndian, r)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCompareFiles: the same recordings as .npy (stimulus order), as CSV
// with its rows shuffled (ids) and as safetensors (ids in metadata) are
// aligned by id and compare as identical; wrong ids and counts are errors.
func TestCompareFiles(t *testing.T) {
	dir := t.TempDir()
	rows := [][]float64{{1, 2, 0.5}, {3, -1, 2}, {0, 4, 1}, {2, 2, -3}, {5, 0, 0}}
	ids := []string{"a", "b", "c", "d", "e"}
	npy := filepath.Join(dir, "r.npy")
	writeNPY(t, npy, rows)
	var csv strings.Builder
	csv.WriteString("id,f1,f2,f3\n")
	for _, i := range []int{3, 0, 4, 1, 2} {
		fmt.Fprintf(&csv, "%s,%g,%g,%g\n", ids[i], rows[i][0], rows[i][1], rows[i][2])
	}
	csvPath := filepath.Join(dir, "r.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var flat []float32
	for _, r := range rows {
		for _, v := range r {
			flat = append(flat, float32(v))
		}
	}
	st := filepath.Join(dir, "r.safetensors")
	idJSON, _ := json.Marshal(ids)
	if err := safetensors.Write(st, []safetensors.Tensor{{Name: "v1", Shape: []int{5, 3}, Data: flat}}, map[string]string{source.IDsKey: string(idJSON)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"cka", "cka-debiased", "cka-rbf", "rsa"} {
		r := runCompareJSON(t, "--method", m, "--plot", "", st+":v1", csvPath)
		if math.Abs(r.Values[0][0]-1) > 1e-6 {
			t.Errorf("%s: safetensors vs shuffled CSV = %g, want 1", m, r.Values[0][0])
		}
		r = runCompareJSON(t, "--method", m, "--plot", "", npy, st)
		if math.Abs(r.Values[0][0]-1) > 1e-6 {
			t.Errorf("%s: npy vs safetensors = %g, want 1", m, r.Values[0][0])
		}
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte(strings.Replace(csv.String(), "e,", "z,", 1)), 0o644)
	short := filepath.Join(dir, "short.npy")
	writeNPY(t, short, rows[:4])
	for _, tc := range []struct{ name, a, b, want string }{
		{"ids", st, bad, `only in the first: "e"; only in the second: "z"`},
		{"count", npy, short, "5 stimuli vs 4"},
		{"no prompts", "hooks:blocks.*.hook_resid_post", npy, "needs --prompts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runCLI(t, "", "compare", "--plot", "", tc.a, tc.b)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want an error containing %q", code, errs, tc.want)
			}
		})
	}
}

// TestRecordingPeaksAtItsLayer is the known answer on a model:
// synthetic recordings made from one layer's MLP activations (a random
// linear readout to 30 "units" plus noise) are best matched, by RSA and by
// the encoding score alike, at that layer of the embedded model.
func TestRecordingPeaksAtItsLayer(t *testing.T) {
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	words := []string{"cat", "dog", "park", "ball", "sun", "tree", "cake", "girl", "boy", "bird", "fish", "car"}
	verbs := []string{"saw", "liked", "found", "lost", "wanted", "had"}
	var prompts []string
	for i := 0; i < 240; i++ {
		prompts = append(prompts, "Lily "+verbs[i%6]+" a "+words[(i*7)%12]+" and a "+words[(i*5+3)%12]+" "+words[(i/12)%12]+" "+verbs[(i/7)%6])
	}
	stimuli, err := source.PromptStimuli(m, prompts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := source.HookMatrices(m, "blocks.*.mlp.hook_post", stimuli, source.Pool{Kind: "mean"}, 8)
	if err != nil {
		t.Fatal(err)
	}
	const planted = 2
	r := rand.New(rand.NewPCG(1, 2))
	_, d := ms[planted].X.Dims()
	w := mat.NewDense(d, 30, nil)
	for i := 0; i < d; i++ {
		for j := 0; j < 30; j++ {
			w.Set(i, j, r.NormFloat64())
		}
	}
	var rec mat.Dense
	rec.Mul(ms[planted].X, w)
	raw := rec.RawMatrix().Data
	for i := range raw {
		raw[i] += 0.3 * r.NormFloat64()
	}
	var layers []mat.Matrix
	for _, x := range ms {
		layers = append(layers, x.X)
	}
	rsa, err := compare.Grid(layers, []mat.Matrix{&rec}, compare.Spec{Method: compare.RSAMethod, RDM: compare.Correlation, Compare: compare.Spearman})
	if err != nil {
		t.Fatal(err)
	}
	var rsaBy, encBy []float64
	for l, x := range layers {
		e, err := compare.Ridge{InnerFolds: 3}.Score(x, &rec)
		if err != nil {
			t.Fatal(err)
		}
		rsaBy = append(rsaBy, rsa[l][0])
		encBy = append(encBy, stat.Mean(e.R, nil))
	}
	t.Logf("RSA by layer %.3f; mean encoding r by layer %.3f", rsaBy, encBy)
	if got := floats.MaxIdx(rsaBy); got != planted {
		t.Errorf("RSA peaks at layer %d, want %d", got, planted)
	}
	if got := floats.MaxIdx(encBy); got != planted {
		t.Errorf("encoding score peaks at layer %d, want %d", got, planted)
	}
}

// TestCompareCorpusRepeated: corpus windows as stimuli, and a recording
// given as repeated measurements. Noiseless repetitions of one layer's
// activations score 1 at that layer under a noise ceiling of 1 (rsa) and a
// split-half ceiling of 1 (pls); noisy ones leave rsa's score below the
// upper bound of the ceiling.
func TestCompareCorpusRepeated(t *testing.T) {
	dir := t.TempDir()
	text := "Once upon a time there was a little girl named Lily. She liked to play in the park with her dog. " +
		"One day the sun was hot and Tom had a red ball. The bird sang in the big tree and the cat sat on the mat. "
	corpusPath := filepath.Join(dir, "stories.txt")
	if err := os.WriteFile(corpusPath, []byte(strings.Repeat(text, 12)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCompareJSON(t, "--corpus", corpusPath, "--window", "16", "--method", "cka", "--plot", "", "hooks:blocks.*.hook_resid_post")
	if r.Stimuli < 40 || math.Abs(r.Values[1][1]-1) > 1e-9 {
		t.Fatalf("corpus windows: %d stimuli, diagonal %g", r.Stimuli, r.Values[1][1])
	}

	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	stimuli, err := source.WindowStimuli(m, []string{corpusPath}, corpus.Options{}, 16, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := source.HookMatrices(m, "blocks.2.hook_resid_post", stimuli, source.Pool{Kind: "last"}, 8)
	if err != nil {
		t.Fatal(err)
	}
	x := ms[0].X
	n, d := x.Dims()
	rng := rand.New(rand.NewPCG(3, 4))
	write := func(name string, noise float64) string {
		var ts []safetensors.Tensor
		for k := 0; k < 4; k++ {
			data := make([]float32, n*d)
			for i := range data {
				data[i] = float32(x.RawMatrix().Data[i] + noise*rng.NormFloat64())
			}
			ts = append(ts, safetensors.Tensor{Name: fmt.Sprintf("run%d", k), Shape: []int{n, d}, Data: data})
		}
		ids, _ := json.Marshal(ms[0].IDs)
		path := filepath.Join(dir, name)
		if err := safetensors.Write(path, ts, map[string]string{source.IDsKey: string(ids)}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	clean, noisy := write("clean.safetensors", 0), write("noisy.safetensors", 1)
	type repeated struct {
		Values   [][]float64
		Repeated struct {
			Scores      []float64
			Ceiling     *compare.Ceiling
			Reliability *float64
			Ceiled      []float64
		}
	}
	run := func(args ...string) repeated {
		out, errs, code := runCLI(t, "", append([]string{"compare", "--json", "--plot", "", "--corpus", corpusPath, "--window", "16", "--pool", "last", "--repeats"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		var r repeated
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	rsa := run("--method", "rsa", "--rdm", "euclidean", "--compare", "pearson", "hooks:blocks.*.hook_resid_post", clean)
	if c := rsa.Repeated.Ceiling; c == nil || math.Abs(c.Lower-1) > 1e-9 || math.Abs(c.Upper-1) > 1e-9 || math.Abs(rsa.Values[2][0]-1) > 1e-6 {
		t.Errorf("noiseless repetitions: layer 2 scores %v, ceiling %+v; want 1 under 1–1", rsa.Values, c)
	}
	pls := run("--method", "pls", "hooks:blocks.*.hook_resid_post", clean)
	t.Logf("pls against noiseless repetitions of layer 2, by layer: %.4f", pls.Repeated.Scores)
	if rel := pls.Repeated.Reliability; rel == nil || math.Abs(*rel-1) > 1e-9 || floats.MaxIdx(pls.Repeated.Scores) != 2 {
		t.Errorf("pls on noiseless repetitions of layer 2: %+v, want a reliability of 1 and a peak at layer 2", pls.Repeated)
	}
	for _, dataRDM := range []string{"euclidean", "mahalanobis"} {
		r := run("--method", "rsa", "--rdm", "euclidean", "--compare", "spearman", "--data-rdm", dataRDM, "hooks:blocks.*.hook_resid_post", noisy)
		c := r.Repeated.Ceiling
		t.Logf("--data-rdm %s, noise 1: scores by layer %.4f, ceiling %.4f–%.4f", dataRDM, r.Repeated.Scores, c.Lower, c.Upper)
		if !(c.Lower < c.Upper) || r.Values[2][0] > c.Upper {
			t.Errorf("--data-rdm %s: layer 2 %.4f over the ceiling %+v", dataRDM, r.Values[2][0], c)
		}
	}
	cn := run("--method", "rsa", "--rdm", "euclidean", "--compare", "pearson", "--data-rdm", "crossnobis", "hooks:blocks.2.hook_resid_post", noisy)
	if cn.Repeated.Ceiling != nil || cn.Values[0][0] < 0.5 {
		t.Errorf("crossnobis: %+v", cn.Repeated)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data-rdm", "crossnobis", "hooks:blocks.2.hook_resid_post", corpusPath}, "--repeats"},
		{[]string{"--repeats", "hooks:blocks.2.hook_resid_post"}, "needs B"},
		{[]string{"--repeats", "--data-rdm", "nope", "hooks:blocks.2.hook_resid_post", clean}, "--data-rdm"},
	} {
		_, errs, code := runCLI(t, "", append([]string{"compare", "--plot", "", "--corpus", corpusPath, "--window", "16"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want an error about %s", tc.args, code, errs, tc.want)
		}
	}
}
