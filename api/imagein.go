package api

// ImageRun is the prompt explorer's answer for an image model: the
// chosen hook's layout and its most active units' maps. A unit's map is
// its values over the hook's grid, row-major: a CNN channel's h×w, a ViT
// unit's value at each patch (CLS left out), or one value for a vector.
type ImageRun struct {
	Hook   string      `json:"hook"`
	Shape  []int       `json:"shape"`  // the hook's shape, batch 1
	Layout string      `json:"layout"` // channels, patches or vector
	GridH  int         `json:"grid_h"`
	GridW  int         `json:"grid_w"`
	Units  int         `json:"units"`   // units of the hook
	ImageH int         `json:"image_h"` // the model's input
	ImageW int         `json:"image_w"`
	Max    []float32   `json:"max"`  // every unit's maximum over the grid
	Maps   [][]float32 `json:"maps"` // the maps of Top[0]'s units, in that order
}

// GradCAMRequest is POST /api/gradcam: `glia gradcam` on one image.
type GradCAMRequest struct {
	Image  string   `json:"image"`  // base64 PNG or JPEG
	Class  *int     `json:"class"`  // the class to explain (default: the top class)
	Hook   string   `json:"hook"`   // default: a ViT's last ln1, else the last hook with a spatial grid
	Method string   `json:"method"` // gradcam (default) or hirescam
	Alpha  *float64 `json:"alpha"`  // the image's weight in the overlay (default 0.5)
	Scale  int      `json:"scale"`  // overlay pixels per input pixel (default 8, at most 16)
}

// GradCAMResponse is one Grad-CAM map: the arrays `glia gradcam --save`
// writes (heat, cam, weights) and the overlay `--out` draws.
type GradCAMResponse struct {
	Method  string      `json:"method"`
	Hook    string      `json:"hook"`
	Class   int         `json:"class"`
	Label   string      `json:"label"` // the class's name (id2label), or its number
	Logit   float32     `json:"logit"`
	Patches bool        `json:"patches"` // a ViT hook: CLS dropped, patches reshaped to the grid
	GridH   int         `json:"grid_h"`
	GridW   int         `json:"grid_w"`
	Cam     []float32   `json:"cam"`     // ReLU(Σ w_k A_k), grid_h × grid_w, row-major, unnormalised
	Weights []float32   `json:"weights"` // w_k per channel
	H       int         `json:"h"`       // the model's input
	W       int         `json:"w"`
	Heat    []float32   `json:"heat"`    // the map in [0, 1] over the input, h × w, row-major
	Overlay []byte      `json:"overlay"` // PNG, base64 in JSON
	Classes []NextToken `json:"classes"` // the ten likeliest classes
}
