package atlas

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// imageSchemaSQL adds an image atlas' tables to schema 2 (docs/atlas.md,
// "Image atlases"). Its units rows are the text atlas' (statistics over
// every spatial activation); examples, windows and tokens stay empty.
const imageSchemaSQL = `
CREATE TABLE images (id INTEGER PRIMARY KEY, source TEXT NOT NULL,
	channels INTEGER NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL,
	pixels BLOB NOT NULL, checksum INTEGER NOT NULL);
CREATE TABLE image_units (id INTEGER PRIMARY KEY, hook TEXT NOT NULL, unit INTEGER NOT NULL,
	quantile REAL, quantile_err REAL NOT NULL, n INTEGER NOT NULL, blob BLOB NOT NULL, checksum INTEGER NOT NULL);
CREATE UNIQUE INDEX image_units_hook_unit ON image_units (hook, unit);
`

// Meta keys of an image atlas, besides the text atlas' ones.
const (
	metaKind        = "kind" // "images"; absent in text atlases
	kindImages      = "images"
	imageBlobFormat = 1
)

// ImageInfo is an image atlas' own metadata (meta key "image_atlas").
type ImageInfo struct {
	Hooks          []ImageHook `json:"hooks"`
	Images         int         `json:"images"`      // images in the set
	Shape          [3]int      `json:"image_shape"` // [channels, height, width] stored and read by the model
	Sources        []string    `json:"sources"`     // the image set as given
	TopK           int         `json:"top_k"`
	Quantile       float64     `json:"quantile"`
	QuantileMethod string      `json:"quantile_method"` // exact, or histogram (estimate)
	Upsample       string      `json:"upsample"`
	MapQuantised   string      `json:"map_quantised"`
}

// upsampleName says how masks are drawn (Upsample).
const upsampleName = "bilinear, align_corners=False (torch.nn.functional.interpolate)"

// encodeImageExemplars writes a unit's exemplars:
//
//	u8  format (1)
//	u16 n, u16 grid_h, u16 grid_w
//	n × (f32 activation, u32 image, u32 argmax cell, f32 lo, f32 hi, grid_h·grid_w × u8 map)
func encodeImageExemplars(dst []byte, ex []imgExemplar, gh, gw int) []byte {
	le := binary.LittleEndian
	dst = append(dst, imageBlobFormat)
	dst = le.AppendUint16(dst, uint16(len(ex)))
	dst = le.AppendUint16(dst, uint16(gh))
	dst = le.AppendUint16(dst, uint16(gw))
	for _, e := range ex {
		dst = le.AppendUint32(dst, math.Float32bits(e.act))
		dst = le.AppendUint32(dst, e.image)
		dst = le.AppendUint32(dst, e.argmax)
		dst = le.AppendUint32(dst, math.Float32bits(e.lo))
		dst = le.AppendUint32(dst, math.Float32bits(e.hi))
		dst = append(dst, e.q...)
	}
	return dst
}

// decodeImageExemplars reads encodeImageExemplars' form, checking every
// count against the hook, the settings and the bytes left before
// allocating. The error is a *BlobError naming the unit.
func decodeImageExemplars(b []byte, h ImageHook, topK, nImages int, unit int) ([]imgExemplar, error) {
	r := &blobReader{b: b}
	if f := r.take(1); f != nil && f[0] != imageBlobFormat {
		r.off--
		r.fail("image exemplar format %d, this glia reads %d", f[0], imageBlobFormat)
	}
	n := r.count("exemplars", topK)
	gh, gw := r.u16(), r.u16()
	if r.err == nil && (gh != h.GridH || gw != h.GridW) {
		r.fail("a %d×%d map, the hook's grid is %d×%d", gh, gw, h.GridH, h.GridW)
	}
	cells := gh * gw
	if r.err == nil && n*(20+cells) != len(b)-r.off {
		r.fail("%d exemplars of %d cells need %d bytes, %d left", n, cells, n*(20+cells), len(b)-r.off)
	}
	if r.err != nil {
		return nil, r.named(h.Name, unit)
	}
	out := make([]imgExemplar, n)
	for i := range out {
		e := &out[i]
		e.act = math.Float32frombits(r.u32())
		e.image, e.argmax = r.u32(), r.u32()
		e.lo, e.hi = math.Float32frombits(r.u32()), math.Float32frombits(r.u32())
		e.q = r.take(cells)
		switch {
		case int64(e.image) >= int64(nImages):
			r.fail("exemplar %d is image %d of a set of %d", i, e.image, nImages)
		case int(e.argmax) >= cells:
			r.fail("exemplar %d has its maximum at cell %d of %d", i, e.argmax, cells)
		case !(e.lo <= e.hi) || e.act != e.hi:
			r.fail("exemplar %d has activation %g and map range [%g, %g]", i, e.act, e.lo, e.hi)
		case i > 0 && out[i-1].act < e.act:
			r.fail("exemplar %d (%g) ranks above exemplar %d (%g)", i, e.act, i-1, out[i-1].act)
		}
		if r.err != nil {
			return nil, r.named(h.Name, unit)
		}
	}
	return out, nil
}

// imageBlobCRC is the checksum of an image_units row: its quantile and
// error, then its blob.
func imageBlobCRC(q, qerr float64, blob []byte) uint32 {
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:], math.Float64bits(q))
	binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(qerr))
	return crc32Of(append(buf[:], blob...))
}

// ImageInfo is an image atlas' metadata; nil (and no error) for a text atlas.
func (a *Atlas) ImageInfo() (*ImageInfo, error) {
	var kind, js string
	if a.db.QueryRow("SELECT value FROM meta WHERE key = ?", metaKind).Scan(&kind) != nil || kind != kindImages {
		return nil, nil
	}
	if err := a.db.QueryRow("SELECT value FROM meta WHERE key = 'image_atlas'").Scan(&js); err != nil {
		return nil, fmt.Errorf("atlas: %s: an image atlas without its image_atlas meta row: %w", a.Path, err)
	}
	info := &ImageInfo{}
	if err := json.Unmarshal([]byte(js), info); err != nil {
		return nil, fmt.Errorf("atlas: %s: image_atlas meta unreadable (corrupted?): %v", a.Path, err)
	}
	if len(info.Hooks) != len(a.Meta.Settings.Hooks) || info.Shape[0] < 1 || info.Shape[1] < 1 || info.Shape[2] < 1 ||
		info.Shape[0] > 16 || int64(info.Shape[1])*int64(info.Shape[2]) > 1<<26 {
		return nil, fmt.Errorf("atlas: %s: image_atlas meta does not match the atlas (%d hooks, %d in settings; image shape %v)",
			a.Path, len(info.Hooks), len(a.Meta.Settings.Hooks), info.Shape)
	}
	for i, h := range info.Hooks {
		if h.Name != a.Meta.Settings.Hooks[i].Name || h.Units != a.Meta.Settings.Hooks[i].Width || h.GridH < 1 || h.GridW < 1 || h.GridH > 1<<15 || h.GridW > 1<<15 {
			return nil, fmt.Errorf("atlas: %s: image_atlas hook %d (%s, %d units, %d×%d) does not match the settings", a.Path, i, h.Name, h.Units, h.GridH, h.GridW)
		}
	}
	return info, nil
}

func (info *ImageInfo) hook(name string) (ImageHook, bool) {
	for _, h := range info.Hooks {
		if h.Name == name {
			return h, true
		}
	}
	return ImageHook{}, false
}

// ImageUnitReport is what an image atlas holds about a unit: the text
// atlas' statistics over every spatial activation (count = images × grid
// cells; Top, Bands and Random empty) and the exemplars.
type ImageUnitReport struct {
	UnitReport
	GridH          int             `json:"grid_h"`
	GridW          int             `json:"grid_w"`
	Layout         Layout          `json:"layout"`
	ImageH         int             `json:"image_h"`
	ImageW         int             `json:"image_w"`
	Quantile       *float64        `json:"quantile"`     // the unit's q quantile over every spatial activation: the mask threshold
	QuantileQ      float64         `json:"quantile_q"`   // q (0.99)
	QuantileErr    float64         `json:"quantile_err"` // 0 when exact; else at most this far off (histogram estimate)
	QuantileMethod string          `json:"quantile_method"`
	Exemplars      []ImageExemplar `json:"exemplars"`
}

// ImageExemplar is one of a unit's top images.
type ImageExemplar struct {
	Rank       int       `json:"rank"`
	Activation float32   `json:"activation"` // the map's maximum
	Image      int       `json:"image"`      // index in the image set (images.id)
	Source     string    `json:"source"`     // its file, or FILE:N in an IDX file
	Argmax     [2]int    `json:"argmax"`     // [row, column] of the maximum's grid cell (the first, if tied)
	Map        []float32 `json:"map"`        // grid_h × grid_w, row-major, from 8 bits (the maximum exact)
	MaskBox    *[4]int   `json:"mask_box"`   // x0, y0, x1, y1 (exclusive) of the mask's pixels; null when empty
	MaskPixels int       `json:"mask_pixels"`
}

// MarshalJSON leaves out the text atlas' example fields (top, bands,
// random), which an image unit never has: its examples are Exemplars.
func (r ImageUnitReport) MarshalJSON() ([]byte, error) {
	type plain ImageUnitReport // without this method
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "top")
	delete(m, "bands")
	delete(m, "random")
	return json.Marshal(m)
}

// ImageUnit reads a unit of an image atlas.
func (a *Atlas) ImageUnit(hook string, unit int) (*ImageUnitReport, error) {
	info, err := a.ImageInfo()
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, fmt.Errorf("atlas: %s is a text atlas, not an image atlas", a.Path)
	}
	ur, err := a.Unit(hook, unit)
	if err != nil {
		return nil, err
	}
	h, _ := info.hook(hook)
	r := &ImageUnitReport{UnitReport: *ur, GridH: h.GridH, GridW: h.GridW, Layout: h.Layout, ImageH: info.Shape[1], ImageW: info.Shape[2],
		QuantileQ: info.Quantile, QuantileMethod: info.QuantileMethod, Exemplars: []ImageExemplar{}}
	var q sql.NullFloat64
	var blob []byte
	var crc int64
	err = a.db.QueryRow("SELECT quantile, quantile_err, blob, checksum FROM image_units WHERE hook = ? AND unit = ?", hook, unit).
		Scan(&q, &r.QuantileErr, &blob, &crc)
	if err != nil {
		return nil, fmt.Errorf("atlas: %s: reading the exemplars of %s:%d: %w", a.Path, hook, unit, err)
	}
	qv := math.NaN()
	if q.Valid {
		qv = q.Float64
		r.Quantile = &q.Float64
	}
	if got := imageBlobCRC(qv, r.QuantileErr, blob); int64(got) != crc {
		return nil, &BlobError{Path: a.Path, Hook: hook, Unit: unit, Reason: fmt.Sprintf("image exemplars checksum %08x, stored %08x", got, crc)}
	}
	ex, err := decodeImageExemplars(blob, h, info.TopK, info.Images, unit)
	if err != nil {
		return nil, withPath(a.Path, err)
	}
	for i, e := range ex {
		out := ImageExemplar{Rank: i, Activation: e.act, Image: int(e.image), Argmax: [2]int{int(e.argmax) / h.GridW, int(e.argmax) % h.GridW},
			Map: dequantise(e.q, e.lo, e.hi)}
		if err := a.db.QueryRow("SELECT source FROM images WHERE id = ?", e.image).Scan(&out.Source); err != nil {
			return nil, fmt.Errorf("atlas: %s holds no image %d, which exemplar %d of %s:%d shows: the database is damaged; rebuild it", a.Path, e.image, i, hook, unit)
		}
		if r.Quantile != nil {
			out.MaskBox, out.MaskPixels = maskBox(r.Mask(out), r.ImageH, r.ImageW)
		}
		r.Exemplars = append(r.Exemplars, out)
	}
	return r, nil
}

// Mask is where an exemplar's map, bilinearly upsampled to the image,
// exceeds the unit's quantile (MILAN's exemplar mask): image_h × image_w,
// row-major. A unit without a quantile (no values) has an empty mask.
func (r *ImageUnitReport) Mask(e ImageExemplar) []bool {
	mask := make([]bool, r.ImageH*r.ImageW)
	if r.Quantile == nil || len(e.Map) != r.GridH*r.GridW {
		return mask
	}
	up := Upsample(e.Map, r.GridH, r.GridW, r.ImageH, r.ImageW)
	for i, v := range up {
		mask[i] = float64(v) > *r.Quantile
	}
	return mask
}

// maskBox is the bounding box of a mask and its pixel count.
func maskBox(mask []bool, h, w int) (*[4]int, int) {
	box := [4]int{w, h, 0, 0}
	n := 0
	for i, on := range mask {
		if !on {
			continue
		}
		n++
		y, x := i/w, i%w
		box[0], box[1] = min(box[0], x), min(box[1], y)
		box[2], box[3] = max(box[2], x+1), max(box[3], y+1)
	}
	if n == 0 {
		return nil, 0
	}
	return &box, n
}

// Upsample resizes a gh×gw map to h×w bilinearly, as torch's
// F.interpolate(mode="bilinear", align_corners=False): output pixel y
// samples the map at (y+0.5)·gh/h − 0.5, clamped to the map.
func Upsample(m []float32, gh, gw, h, w int) []float32 {
	src := func(o, in, out int) (int, int, float64) {
		s := (float64(o)+0.5)*float64(in)/float64(out) - 0.5
		s = max(s, 0)
		i0 := min(int(s), in-1)
		i1 := min(i0+1, in-1)
		return i0, i1, s - float64(i0)
	}
	out := make([]float32, h*w)
	for y := range h {
		y0, y1, fy := src(y, gh, h)
		for x := range w {
			x0, x1, fx := src(x, gw, w)
			top := (1-fx)*float64(m[y0*gw+x0]) + fx*float64(m[y0*gw+x1])
			bot := (1-fx)*float64(m[y1*gw+x0]) + fx*float64(m[y1*gw+x1])
			out[y*w+x] = float32((1-fy)*top + fy*bot)
		}
	}
	return out
}

// ImagePixels reads a stored image: bytes, planar [channels, height, width].
func (a *Atlas) ImagePixels(id int) (px []byte, c, h, w int, source string, err error) {
	var crc int64
	err = a.db.QueryRow("SELECT source, channels, height, width, pixels, checksum FROM images WHERE id = ?", id).Scan(&source, &c, &h, &w, &px, &crc)
	if err == sql.ErrNoRows {
		return nil, 0, 0, 0, "", fmt.Errorf("atlas: %s holds no image %d", a.Path, id)
	}
	if err != nil {
		return nil, 0, 0, 0, "", fmt.Errorf("atlas: reading image %d: %w", id, err)
	}
	if c < 1 || h < 1 || w < 1 || int64(c)*int64(h)*int64(w) != int64(len(px)) || int64(crc32Of(px)) != crc {
		return nil, 0, 0, 0, "", fmt.Errorf("atlas: %s: image %d is damaged (%d bytes for %d×%d×%d, or a wrong checksum); rebuild the atlas", a.Path, id, len(px), c, h, w)
	}
	return px, c, h, w, source, nil
}

// verifyImages checks every units, image_units and images row against its
// checksum and every blob against the hooks.
func (a *Atlas) verifyImages(info *ImageInfo) error {
	rows, err := a.db.Query("SELECT hook, unit, count, mean, m2, min, max, n_pos, n_above, hist, checksum FROM units")
	if err != nil {
		return err
	}
	var buf []byte
	for rows.Next() {
		var hook string
		var unit int
		var st unitStats
		var mn, mx sql.NullFloat64
		var hb []byte
		var crc int64
		if err := rows.Scan(&hook, &unit, &st.count, &st.mean, &st.m2, &mn, &mx, &st.npos, &st.nabove, &hb, &crc); err != nil {
			rows.Close()
			return err
		}
		st.min, st.max = float32(math.Inf(1)), float32(math.Inf(-1))
		if mn.Valid && mx.Valid {
			st.min, st.max = float32(mn.Float64), float32(mx.Float64)
		}
		var got uint32
		if buf, got = unitsCRC(buf, st, hb); int64(got) != crc {
			rows.Close()
			return fmt.Errorf("atlas: %s: the statistics of %s:%d do not match their checksum; the database is damaged, rebuild it", a.Path, hook, unit)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range info.Hooks {
		for u := range h.Units {
			if _, err := a.ImageUnit(h.Name, u); err != nil {
				return err
			}
		}
	}
	rows, err = a.db.Query("SELECT id FROM images")
	if err != nil {
		return err
	}
	var ids []int
	for rows.Next() {
		var id int
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, _, _, _, _, err := a.ImagePixels(id); err != nil {
			return err
		}
	}
	return nil
}

// String names a unit report's unit.
func (r *ImageUnitReport) String() string { return r.Hook + ":" + strconv.Itoa(r.Unit) }
