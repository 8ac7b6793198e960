package atlas

import (
	"context"
	"database/sql"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/glia-dev/glia/tokenizer"
)

// Atlas is an open atlas database, for reading.
type Atlas struct {
	db   *sql.DB
	Path string
	Meta Meta
	toks map[int32]string

	mu   sync.Mutex
	wins map[uint64]window // windows read lately (schema 2)
}

// Open opens an atlas after checking that the file is an intact SQLite
// database of this schema version. It opens it read-write (glia explain
// adds its tables through DB), and read-only where it cannot write: on a
// read-only mount or in a directory the user cannot write.
func Open(path string) (*Atlas, error) {
	return open(path, modeReadWrite, modeReadOnly, modeImmutable)
}

// OpenReadOnly opens an atlas for reading only, as Open does; writes
// through DB fail. Where even the -shm file of the database cannot be
// created it opens the file as immutable, which is right only while no one
// is writing it.
func OpenReadOnly(path string) (*Atlas, error) {
	return open(path, modeReadOnly, modeImmutable)
}

func open(path string, modes ...openMode) (*Atlas, error) {
	db, m, err := openFirst(path, modes...)
	if err != nil {
		return nil, err
	}
	return &Atlas{db: db, Path: path, Meta: *m}, nil
}

// Close closes the database.
func (a *Atlas) Close() error { return a.db.Close() }

// DB exposes the database for custom queries.
func (a *Atlas) DB() *sql.DB { return a.db }

// Verify recomputes the checkpoint checksum over every stored row.
func (a *Atlas) Verify() error {
	if info, err := a.ImageInfo(); err != nil || info != nil {
		if err != nil {
			return err
		}
		return a.verifyImages(info)
	}
	p, err := readProgress(a.db)
	if err != nil {
		return fmt.Errorf("atlas: %s: %w", a.Path, err)
	}
	set := a.Meta.Settings
	if a.Meta.SchemaVersion == 1 {
		_, _, _, err = loadStateV1(a.db, &set, p.Checksum)
	} else {
		_, _, _, err = loadState(a.db, &set, 0, p.Checksum)
	}
	if err != nil {
		return withPath(a.Path, err)
	}
	return nil
}

// Example is one stored context of a unit.
type Example struct {
	Rank       int       `json:"rank"`
	Activation float32   `json:"activation"` // the unit's activation at the example's token
	Shard      int       `json:"shard"`      // corpus path index
	Window     int64     `json:"window"`     // window number within the shard
	Pos        int       `json:"pos"`        // the token's position in its window
	Doc        int64     `json:"doc"`        // document number within the shard
	Start      int       `json:"start"`      // window position of Tokens[0]
	Center     int       `json:"center"`     // index of the example's token in Tokens (Pos-Start)
	Tokens     []int32   `json:"tokens"`
	Text       []string  `json:"text"` // display form of each token
	Acts       []float32 `json:"acts"` // the unit's activation at each token
}

// Band is a set of sampled examples whose activation lies in one octave.
type Band struct {
	Octave   int       `json:"octave"`
	Lo       float64   `json:"lo"` // activations in [Lo, Hi)
	Hi       float64   `json:"hi"`
	Count    uint64    `json:"count"` // tokens of the whole corpus in the band (from the histogram)
	QLo      float64   `json:"q_lo"`  // fraction of tokens below Lo
	QHi      float64   `json:"q_hi"`  // fraction of tokens below Hi
	Examples []Example `json:"examples"`
}

// UnitReport is everything the atlas holds about one unit.
type UnitReport struct {
	Hook         string    `json:"hook"`
	Unit         int       `json:"unit"`
	Index        []int     `json:"index,omitempty"` // Unit per axis, for hooks with several (HookSpec.Axes): [head, i]
	Axes         []int     `json:"axes,omitempty"`
	Count        int64     `json:"count"`
	Mean         float64   `json:"mean"`
	Var          float64   `json:"var"`
	Std          float64   `json:"std"`
	Min          *float64  `json:"min"`
	Max          *float64  `json:"max"`
	NPos         int64     `json:"n_pos"`
	NAbove       int64     `json:"n_above"`
	Density      float64   `json:"density"`       // fraction of tokens > 0
	DensityAbove float64   `json:"density_above"` // fraction of tokens > Threshold
	Threshold    float32   `json:"threshold"`
	Hist         []uint64  `json:"hist"` // NumBins counts; edges in HistEdges()
	Top          []Example `json:"top"`
	Bands        []Band    `json:"bands"`
	Random       []Example `json:"random"`
}

// ParseUnit splits "blocks.3.mlp.hook_post:117".
func ParseUnit(s string) (hook string, unit int, err error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, fmt.Errorf("atlas: unit %q: write it as HOOK:INDEX, e.g. blocks.0.mlp.hook_post:17", s)
	}
	unit, err = strconv.Atoi(s[i+1:])
	if err != nil {
		return "", 0, fmt.Errorf("atlas: unit %q: index %q is not a number", s, s[i+1:])
	}
	return s[:i], unit, nil
}

// hookSpec finds a hook, with a helpful error.
func (a *Atlas) hookSpec(hook string) (HookSpec, error) {
	var names []string
	for _, h := range a.Meta.Settings.Hooks {
		if h.Name == hook {
			return h, nil
		}
		names = append(names, fmt.Sprintf("%s (0..%d)", h.Name, h.Width-1))
	}
	return HookSpec{}, fmt.Errorf("atlas: %s has no hook %q; it holds %s", a.Path, hook, strings.Join(names, ", "))
}

// TokenText is the stored display form of a token.
func (a *Atlas) TokenText(id int32) string {
	if a.toks == nil {
		a.toks = map[int32]string{}
		rows, err := a.db.Query("SELECT id, text FROM tokens")
		if err == nil {
			for rows.Next() {
				var i int32
				var s string
				rows.Scan(&i, &s)
				a.toks[i] = s
			}
			rows.Close()
		}
	}
	if s, ok := a.toks[id]; ok {
		return s
	}
	return tokenizer.Unknown(id)
}

// Unit reads one unit.
func (a *Atlas) Unit(hook string, unit int) (*UnitReport, error) {
	h, err := a.hookSpec(hook)
	if err != nil {
		return nil, err
	}
	if unit < 0 || unit >= h.Width {
		return nil, fmt.Errorf("atlas: %s has units 0..%d; %d does not exist", hook, h.Width-1, unit)
	}
	a.TokenText(0) // loads the token table before the examples query holds the connection
	r := &UnitReport{Hook: hook, Unit: unit, Index: h.Index(unit), Axes: h.Axes, Threshold: a.Meta.Settings.Threshold}
	var mn, mx sql.NullFloat64
	var hb []byte
	err = a.db.QueryRow("SELECT count, mean, var, std, min, max, n_pos, n_above, density, density_above, hist FROM units WHERE hook = ? AND unit = ?", hook, unit).
		Scan(&r.Count, &r.Mean, &r.Var, &r.Std, &mn, &mx, &r.NPos, &r.NAbove, &r.Density, &r.DensityAbove, &hb)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("atlas: %s holds no statistics for %s:%d yet (the build has not checkpointed)", a.Path, hook, unit)
	}
	if err != nil {
		return nil, fmt.Errorf("atlas: reading %s:%d: %w", hook, unit, err)
	}
	if mn.Valid {
		r.Min = &mn.Float64
	}
	if mx.Valid {
		r.Max = &mx.Float64
	}
	if a.Meta.SchemaVersion == 1 {
		r.Hist = blobU64(hb)
	} else if r.Hist, err = decodeHist(hb); err != nil {
		return nil, fmt.Errorf("atlas: %s: unit %s:%d: %v; the database is damaged, rebuild it", a.Path, hook, unit, err)
	}
	bands := map[int]*Band{}
	add := func(kind string, band int, e Example) {
		switch kind {
		case KindTop:
			r.Top = append(r.Top, e)
		case KindRandom:
			r.Random = append(r.Random, e)
		case KindBand:
			b := bands[band]
			if b == nil {
				b = &Band{Octave: band, Lo: math.Ldexp(1, band), Hi: math.Ldexp(1, band+1)}
				b.Count, b.QLo, b.QHi = histRange(r.Hist, b.Lo, b.Hi)
				bands[band] = b
			}
			b.Examples = append(b.Examples, e)
		}
	}
	if a.Meta.SchemaVersion == 1 {
		err = a.examplesV1(hook, unit, add)
	} else {
		err = a.examples(h, unit, add)
	}
	if err != nil {
		return nil, err
	}
	for _, b := range bands {
		r.Bands = append(r.Bands, *b)
	}
	sort.Slice(r.Bands, func(i, j int) bool { return r.Bands[i].Octave > r.Bands[j].Octave })
	return r, nil
}

// examples reads a unit's examples blob and the windows it points into.
func (a *Atlas) examples(h HookSpec, unit int, add func(kind string, band int, e Example)) error {
	id := a.unitID(h.Name, unit)
	var blob []byte
	var crc int64
	err := a.db.QueryRow("SELECT blob, checksum FROM examples WHERE id = ?", id).Scan(&blob, &crc)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("atlas: reading %s:%d: %w", h.Name, unit, err)
	}
	if got := crc32.Checksum(blob, crcTable); int64(got) != crc {
		return &BlobError{Path: a.Path, Hook: h.Name, Unit: unit, Reason: fmt.Sprintf("checksum %08x, stored %08x", got, crc)}
	}
	set := a.Meta.Settings
	ex, err := decodeExamples(blob, &set, h.Name, unit)
	if err != nil {
		return withPath(a.Path, err)
	}
	for _, x := range ex {
		w, err := a.window(winID(x.s.key))
		if err != nil {
			return err
		}
		shard, win, pos := splitKey(x.s.key)
		lo, hi := set.spanOf(pos, len(w.ids))
		if pos >= len(w.ids) || hi-lo != len(x.acts) {
			return &BlobError{Path: a.Path, Hook: h.Name, Unit: unit,
				Reason: fmt.Sprintf("a span of %d tokens at position %d of a %d-token window", len(x.acts), pos, len(w.ids))}
		}
		if x.s.act == 0 {
			x.s.act = 0 // -0 reads as 0, as from schema 1's REAL column
		}
		e := Example{Rank: x.rank, Activation: x.s.act, Shard: shard, Window: win, Pos: pos, Doc: w.docs[pos], Start: lo,
			Center: pos - lo, Tokens: append([]int32(nil), w.ids[lo:hi]...), Acts: x.acts}
		for _, id := range e.Tokens {
			e.Text = append(e.Text, a.TokenText(id))
		}
		add(x.kind, int(x.band), e)
	}
	return nil
}

// unitID is a unit's row id (schema 2).
func (a *Atlas) unitID(hook string, unit int) int64 {
	base := unitBase(a.Meta.Settings.Hooks)
	for i, h := range a.Meta.Settings.Hooks {
		if h.Name == hook {
			return base[i] + int64(unit)
		}
	}
	return -1
}

// window reads a window, keeping the last few thousand read.
func (a *Atlas) window(id uint64) (window, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.wins[id]; ok {
		return w, nil
	}
	var tb, db []byte
	err := a.db.QueryRow("SELECT tokens, docs FROM windows WHERE id = ?", int64(id)).Scan(&tb, &db)
	if err == sql.ErrNoRows {
		return window{}, fmt.Errorf("atlas: %s holds no window %d (shard %d, window %d), which an example points into: the database is damaged; rebuild it",
			a.Path, id, id>>windowBits, id&(1<<windowBits-1))
	}
	if err != nil {
		return window{}, fmt.Errorf("atlas: reading window %d: %w", id, err)
	}
	if len(tb)%4 != 0 || len(db) != 2*len(tb) || len(tb) > 4*a.Meta.Settings.Ctx {
		return window{}, fmt.Errorf("atlas: %s: window %d is damaged (%d token bytes, %d document bytes)", a.Path, id, len(tb), len(db))
	}
	if a.wins == nil || len(a.wins) > 4096 {
		a.wins = map[uint64]window{}
	}
	w := window{ids: blobI32(tb), docs: blobI64(db)}
	a.wins[id] = w
	return w, nil
}

// TopTokens calls fn with the token at the center of every top example,
// unit by unit in hook order, each unit's by rank.
func (a *Atlas) TopTokens(ctx context.Context, fn func(hook string, unit, rank int, act float32, token int32)) error {
	if a.Meta.SchemaVersion == 1 {
		return a.topTokensV1(ctx, fn)
	}
	wins := map[uint64][]int32{}
	rows, err := a.db.QueryContext(ctx, "SELECT id, tokens FROM windows")
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var tb []byte
		if err := rows.Scan(&id, &tb); err != nil {
			rows.Close()
			return err
		}
		wins[uint64(id)] = blobI32(tb)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	set := a.Meta.Settings
	rows, err = a.db.QueryContext(ctx, "SELECT hook, unit, blob FROM examples ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var hook string
		var unit int
		var blob []byte
		if err := rows.Scan(&hook, &unit, &blob); err != nil {
			return err
		}
		ex, err := decodeExamples(blob, &set, hook, unit)
		if err != nil {
			return withPath(a.Path, err)
		}
		for _, e := range ex {
			if e.kind != KindTop {
				break
			}
			w := wins[winID(e.s.key)]
			if pos := int(e.s.key & (1<<posBits - 1)); pos < len(w) {
				fn(hook, unit, e.rank, e.s.act, w[pos])
			}
		}
	}
	return rows.Err()
}

// histRange counts the tokens in [lo, hi) and the fractions below lo and hi,
// to the resolution of the histogram (octave edges are bin edges within
// 2^-10..2^10).
func histRange(hist []uint64, lo, hi float64) (count uint64, qlo, qhi float64) {
	edges := HistEdges()
	var total, below, in uint64
	for i, c := range hist {
		total += c
		if edges[i+1] <= lo {
			below += c
		} else if edges[i] >= lo && edges[i+1] <= hi {
			in += c
		} else if edges[i] < hi && edges[i+1] > lo {
			in += c // a bin straddling the range (outside 2^-10..2^10)
		}
	}
	if total == 0 {
		return 0, 0, 0
	}
	return in, float64(below) / float64(total), float64(below+in) / float64(total)
}

// Units calls fn for every unit in hook order, then unit order.
func (a *Atlas) Units(fn func(*UnitReport) error) error {
	for _, h := range a.Meta.Settings.Hooks {
		for u := 0; u < h.Width; u++ {
			r, err := a.Unit(h.Name, u)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}
