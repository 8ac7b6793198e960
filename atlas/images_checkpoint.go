package atlas

import (
	"container/heap"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strconv"
	"time"
)

// An image atlas is built in OUT.building: checkpoints rewrite its rows
// (the statistics, the exemplars and the exact quantile's kept values, in
// image_quantiles) with the number of images done; the final write adds
// the images, drops image_quantiles and renames the file over OUT. A
// resumed build reloads the state and goes on from there, and ends with
// the rows of an uninterrupted build.

const imageCheckpointSQL = `CREATE TABLE image_quantiles (id INTEGER PRIMARY KEY, vals BLOB NOT NULL);`

// imageBuild is one image atlas build and its database.
type imageBuild struct {
	m       ImageModel
	opt     *ImageBuildOptions
	states  []*imgHookState
	info    ImageInfo
	set     Settings
	setHash string // of the image names, in order
	tmp     string
	db      *sql.DB
	created string
	saved   int // images in the last checkpoint
}

func newImageBuild(m ImageModel, opt *ImageBuildOptions, states []*imgHookState, method string) *imageBuild {
	b := &imageBuild{m: m, opt: opt, states: states, tmp: opt.Out + ".building", created: time.Now().UTC().Format(time.RFC3339)}
	b.info = ImageInfo{Images: opt.Images.Len(), Shape: m.ImageShape(), TopK: opt.TopK, Quantile: opt.Quantile,
		QuantileMethod: method, Upsample: upsampleName, MapQuantised: "8 bits over each map's [min, max]"}
	h := sha256.New()
	for i := range opt.Images.Len() {
		if i < 64 {
			b.info.Sources = append(b.info.Sources, opt.Images.Name(i))
		}
		h.Write([]byte(opt.Images.Name(i) + "\n"))
	}
	b.setHash = hex.EncodeToString(h.Sum(nil))
	b.set = Settings{TopK: opt.TopK, Threshold: opt.Threshold}
	for _, s := range states {
		b.info.Hooks = append(b.info.Hooks, s.h)
		b.set.Hooks = append(b.set.Hooks, HookSpec{Name: s.h.Name, Width: s.h.Units})
	}
	return b
}

// open starts OUT.building afresh, or with resume reloads its checkpoint
// and returns the images it had done.
func (b *imageBuild) open(resume bool) (int, error) {
	_, err := os.Stat(b.tmp)
	exists := err == nil
	if resume && !exists {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("atlas: nothing to resume: %s does not exist (an image build checkpoints there)", b.tmp)
		}
		return 0, fmt.Errorf("atlas: %w", err)
	}
	if !resume {
		if exists && b.opt.Log != nil {
			b.opt.Log("note: replacing the unfinished build in %s (--resume continues it)", b.tmp)
		}
		os.Remove(b.tmp)
	}
	if b.db, err = sql.Open("sqlite", sqliteURI(b.tmp, "_pragma=busy_timeout(10000)")); err != nil {
		return 0, fmt.Errorf("atlas: opening %s: %w", b.tmp, err)
	}
	b.db.SetMaxOpenConns(1)
	if !resume {
		if _, err := b.db.Exec(schemaSQL + imageSchemaSQL + imageCheckpointSQL); err != nil {
			return 0, fmt.Errorf("atlas: creating %s: %w", b.tmp, err)
		}
		return 0, nil
	}
	done, err := b.load()
	if err != nil {
		return 0, fmt.Errorf("atlas: resuming %s: %w", b.tmp, err)
	}
	b.saved = done
	return done, nil
}

// close closes the database, removing OUT.building unless it holds a
// checkpoint.
func (b *imageBuild) close() {
	if b.db == nil {
		return
	}
	b.db.Close()
	b.db = nil
	if b.saved == 0 {
		os.Remove(b.tmp)
	}
}

// failed adds to a build error where its work is kept.
func (b *imageBuild) failed(err error) error {
	if b.saved > 0 {
		return fmt.Errorf("%w (the first %d of %d images are checkpointed in %s; the same build with Resume (--resume) continues it)",
			err, b.saved, b.info.Images, b.tmp)
	}
	return err
}

// checkpoint rewrites the state with done images.
func (b *imageBuild) checkpoint(done int) error {
	if err := b.write(done, false); err != nil {
		return err
	}
	b.saved = done
	return nil
}

// finish writes the atlas and renames it over OUT.
func (b *imageBuild) finish() error {
	if err := b.write(b.info.Images, true); err != nil {
		return err
	}
	if _, err := b.db.Exec("DROP TABLE image_quantiles; VACUUM"); err != nil {
		return err
	}
	if err := b.db.Close(); err != nil {
		return err
	}
	b.db = nil
	if err := os.Rename(b.tmp, b.opt.Out); err != nil {
		return fmt.Errorf("atlas: %w", err)
	}
	return nil
}

// write replaces every row in one transaction.
func (b *imageBuild) write(done int, final bool) error {
	tx, err := b.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range []string{"meta", "units", "image_units", "image_quantiles", "images"} {
		if _, err := tx.Exec("DELETE FROM " + t); err != nil {
			return err
		}
	}
	status := StatusBuilding
	if final {
		status = StatusComplete
	}
	meta := &Meta{SchemaVersion: SchemaVersion, GliaVersion: GliaVersion, ModelFingerprint: b.m.Fingerprint(), ModelName: b.m.Name(),
		Settings: b.set, Corpus: []ShardInfo{{Name: "images", Hash: b.setHash, Tokens: int64(b.info.Images)}}, Packing: "one image per example",
		Status: status, Tokens: int64(done), CreatedAt: b.created, UpdatedAt: time.Now().UTC().Format(time.RFC3339)}
	kv := meta.kv()
	js, _ := json.Marshal(b.info)
	kv[metaKind], kv["image_atlas"], kv["image_set"] = kindImages, string(js), b.setHash
	for k, v := range kv {
		if _, err := tx.Exec("INSERT INTO meta (key, value) VALUES (?, ?)", k, v); err != nil {
			return err
		}
	}
	units := newRowWriter(tx, "INSERT INTO units (id, hook, unit, count, mean, m2, var, std, min, max, n_pos, n_above, density, density_above, hist, checksum)", 16)
	ex := newRowWriter(tx, "INSERT INTO image_units (id, hook, unit, quantile, quantile_err, n, blob, checksum)", 8)
	qs := newRowWriter(tx, "INSERT INTO image_quantiles (id, vals)", 2)
	used := map[uint32]bool{}
	var id int64
	var crcBuf []byte
	for _, s := range b.states {
		for u := range s.h.Units {
			st := s.stats(u)
			hb := encodeHist(nil, st.hist)
			var crc uint32
			crcBuf, crc = unitsCRC(crcBuf, st, hb)
			v, sd, dens, densAbove := unitRow(st)
			if err := units.add(id, s.h.Name, u, st.count, st.mean, st.m2, v, sd, nullableF32(st.min), nullableF32(st.max),
				st.npos, st.nabove, dens, densAbove, hb, int64(crc)); err != nil {
				return err
			}
			q, qerr := math.NaN(), 0.0
			if final {
				q, qerr = s.quantile(u, b.opt.Quantile)
			}
			var qcol any = q
			if math.IsNaN(q) || math.IsInf(q, 0) {
				q, qcol = math.NaN(), nil // NULL; NaN in the checksum
			}
			blob := encodeImageExemplars(nil, s.top[u], s.h.GridH, s.h.GridW)
			if err := ex.add(id, s.h.Name, u, qcol, qerr, len(s.top[u]), blob, int64(imageBlobCRC(q, qerr, blob))); err != nil {
				return err
			}
			if !final && s.exact != nil {
				if err := qs.add(id, f32Blob(s.exact[u].v)); err != nil {
					return err
				}
			}
			for _, e := range s.top[u] {
				used[e.image] = true
			}
			id++
		}
	}
	for _, w := range []*rowWriter{units, ex, qs} {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if final {
		if err := b.writeImages(tx, used); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// writeImages stores the images that exemplars show.
func (b *imageBuild) writeImages(tx *sql.Tx, used map[uint32]bool) error {
	ids := make([]uint32, 0, len(used))
	for i := range used {
		ids = append(ids, i)
	}
	sort.Slice(ids, func(a, c int) bool { return ids[a] < ids[c] })
	w := newRowWriter(tx, "INSERT INTO images (id, source, channels, height, width, pixels, checksum)", 7)
	for _, i := range ids {
		im, err := b.opt.Images.Image(int(i))
		if err != nil {
			return err
		}
		px, err := displayPixels(im, b.opt.Pre, b.info.Shape)
		if err != nil {
			return fmt.Errorf("atlas: image %s: %w", b.opt.Images.Name(int(i)), err)
		}
		if err := w.add(i, b.opt.Images.Name(int(i)), b.info.Shape[0], b.info.Shape[1], b.info.Shape[2], px, int64(crc32Of(px))); err != nil {
			return err
		}
	}
	return w.flush()
}

// load reads a checkpoint back into the states, after checking that it is
// of this build.
func (b *imageBuild) load() (int, error) {
	kv := map[string]string{}
	rows, err := b.db.Query("SELECT key, value FROM meta")
	if err != nil {
		return 0, fmt.Errorf("not an image atlas checkpoint: %v", err)
	}
	for rows.Next() {
		var k, v string
		rows.Scan(&k, &v)
		kv[k] = v
	}
	rows.Close()
	js, _ := json.Marshal(b.info)
	sj, _ := json.Marshal(b.set)
	for _, c := range []struct{ key, want, what string }{
		{metaKind, kindImages, "kinds"},
		{"status", StatusBuilding, "statuses"},
		{"model_fingerprint", b.m.Fingerprint(), "model fingerprints"},
		{"image_set", b.setHash, "image sets (hashes of their names, in order)"},
		{"settings", string(sj), "hooks and settings"},
		{"image_atlas", string(js), "image settings"},
	} {
		if kv[c.key] != c.want {
			return 0, fmt.Errorf("the %s differ (%.300q there, %.300q in this build); build without Resume to start over", c.what, kv[c.key], c.want)
		}
	}
	done, err := strconv.Atoi(kv["tokens"])
	if err != nil || done < 0 || done > b.info.Images {
		return 0, fmt.Errorf("its image count %q is unreadable", kv["tokens"])
	}
	base := int64(0)
	for _, s := range b.states {
		for u := range s.h.Units {
			if err := b.loadUnit(s, u, base+int64(u)); err != nil {
				return 0, err
			}
		}
		base += int64(s.h.Units)
	}
	return done, nil
}

func (b *imageBuild) loadUnit(s *imgHookState, u int, id int64) error {
	var st unitStats
	var mn, mx sql.NullFloat64
	var hb, blob, vals []byte
	var crc int64
	err := b.db.QueryRow("SELECT count, mean, m2, min, max, n_pos, n_above, hist, checksum FROM units WHERE id = ?", id).
		Scan(&st.count, &st.mean, &st.m2, &mn, &mx, &st.npos, &st.nabove, &hb, &crc)
	if err != nil {
		return fmt.Errorf("unit %s:%d: %w", s.h.Name, u, err)
	}
	st.min, st.max = float32(math.Inf(1)), float32(math.Inf(-1))
	if mn.Valid && mx.Valid {
		st.min, st.max = float32(mn.Float64), float32(mx.Float64)
	}
	if _, got := unitsCRC(nil, st, hb); int64(got) != crc {
		return fmt.Errorf("unit %s:%d: the statistics do not match their checksum (damaged)", s.h.Name, u)
	}
	if st.hist, err = decodeHist(hb); err != nil {
		return fmt.Errorf("unit %s:%d: %v", s.h.Name, u, err)
	}
	s.count, s.mean[u], s.m2[u], s.mn[u], s.mx[u], s.npos[u], s.nabove[u] = st.count, st.mean, st.m2, st.min, st.max, st.npos, st.nabove
	copy(s.hist[u*NumBins:(u+1)*NumBins], st.hist)
	if err := b.db.QueryRow("SELECT blob, checksum FROM image_units WHERE id = ?", id).Scan(&blob, &crc); err != nil {
		return fmt.Errorf("unit %s:%d: %w", s.h.Name, u, err)
	}
	if int64(imageBlobCRC(math.NaN(), 0, blob)) != crc {
		return &BlobError{Path: b.tmp, Hook: s.h.Name, Unit: u, Reason: "image exemplars checksum mismatch"}
	}
	ex, err := decodeImageExemplars(blob, s.h, b.opt.TopK, b.info.Images, u)
	if err != nil {
		return withPath(b.tmp, err)
	}
	for i := range ex {
		ex[i].q = append([]byte(nil), ex[i].q...)
	}
	s.top[u] = ex
	if s.exact == nil {
		return nil
	}
	if err := b.db.QueryRow("SELECT vals FROM image_quantiles WHERE id = ?", id).Scan(&vals); err != nil {
		return fmt.Errorf("unit %s:%d: the quantile's values: %w", s.h.Name, u, err)
	}
	t := &s.exact[u]
	if len(vals)%4 != 0 || len(vals)/4 > t.k {
		return fmt.Errorf("unit %s:%d: %d bytes of quantile values, at most %d values kept", s.h.Name, u, len(vals), t.k)
	}
	t.v = make([]float32, len(vals)/4, t.k)
	for i := range t.v {
		t.v[i] = math.Float32frombits(binary.LittleEndian.Uint32(vals[4*i:]))
	}
	heap.Init(t)
	return nil
}
