package api

// ImageUnit is what an image atlas holds about a unit besides its
// statistics (NeuronResponse.Images): MILAN's exemplars, the top images
// by spatially max-pooled activation, each with its mask (where the map,
// bilinearly upsampled to the image, exceeds the unit's quantile).
type ImageUnit struct {
	GridH          int             `json:"grid_h"` // the hook's spatial grid
	GridW          int             `json:"grid_w"`
	Layout         string          `json:"layout"` // channels ([batch, unit, h, w]), patches (ViT, CLS left out) or vector
	ImageH         int             `json:"image_h"`
	ImageW         int             `json:"image_w"`
	Quantile       *float64        `json:"quantile"`     // the mask threshold
	QuantileQ      float64         `json:"quantile_q"`   // which quantile (0.99)
	QuantileErr    float64         `json:"quantile_err"` // 0: exact
	QuantileMethod string          `json:"quantile_method"`
	Exemplars      []ImageExemplar `json:"exemplars"`
}

// ImageExemplar is one top image of a unit.
type ImageExemplar struct {
	Rank       int       `json:"rank"`
	Activation float32   `json:"activation"` // spatial max of the unit's map
	Image      int       `json:"image"`      // index in the atlas' image set
	Source     string    `json:"source"`     // its file, or FILE:N of an IDX file
	Argmax     [2]int    `json:"argmax"`     // [row, column] of the maximum's grid cell
	Map        []float32 `json:"map"`        // grid_h × grid_w activations, row-major (8-bit steps, the maximum exact)
	MaskBox    *[4]int   `json:"mask_box"`   // x0, y0, x1, y1 (exclusive) in image pixels; null when the mask is empty
	MaskPixels int       `json:"mask_pixels"`
	PNG        string    `json:"png"` // path of the image with its mask drawn (GET, image/png)
}
