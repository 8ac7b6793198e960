package images

// ForModel prepares images for a model directory whose family reads
// [channels, height, width]: each is preprocessed as the directory's
// preprocessor_config.json says (PreprocessorFor) and the results are
// stacked as [len(ims), channels, height, width], row-major. It is what
// `glia run --image`, `glia gradcam` and `glia serve` feed the engine.
func ForModel(dir string, shape [3]int, ims []*Image) ([]float32, error) {
	pre, err := PreprocessorFor(dir, shape[1], shape[2])
	if err != nil {
		return nil, err
	}
	n := shape[0] * shape[1] * shape[2]
	out := make([]float32, 0, len(ims)*n)
	for _, raw := range ims {
		in, err := pre.Apply(raw, shape[0])
		if err != nil {
			return nil, err
		}
		if len(in.Pix) != n {
			return nil, errorf(dir, -1, nil, "preprocessor_config.json makes %d×%d×%d images; the model reads %d×%d×%d", in.C, in.H, in.W, shape[0], shape[1], shape[2])
		}
		out = append(out, in.Pix...)
	}
	return out, nil
}
