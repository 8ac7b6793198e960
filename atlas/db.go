package atlas

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/glia-dev/glia/corpus"
	_ "modernc.org/sqlite" // pure-Go SQLite driver
)

// SchemaVersion is the version of the database layout this glia writes and
// reads. See docs/atlas.md.
const SchemaVersion = 1

// GliaVersion is recorded in every atlas; the build may set it.
var GliaVersion = "dev"

const schemaSQL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE units (
	hook TEXT NOT NULL, unit INTEGER NOT NULL,
	count INTEGER NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL, var REAL NOT NULL, std REAL NOT NULL,
	min REAL, max REAL, n_pos INTEGER NOT NULL, n_above INTEGER NOT NULL,
	density REAL NOT NULL, density_above REAL NOT NULL, hist BLOB NOT NULL,
	PRIMARY KEY (hook, unit)) WITHOUT ROWID;
CREATE TABLE examples (
	hook TEXT NOT NULL, unit INTEGER NOT NULL, kind TEXT NOT NULL, band INTEGER NOT NULL, rank INTEGER NOT NULL,
	activation REAL NOT NULL, shard INTEGER NOT NULL, win INTEGER NOT NULL, pos INTEGER NOT NULL,
	doc INTEGER NOT NULL, start INTEGER NOT NULL, center INTEGER NOT NULL, hash INTEGER NOT NULL,
	tokens BLOB NOT NULL, acts BLOB NOT NULL,
	PRIMARY KEY (hook, unit, kind, band, rank)) WITHOUT ROWID;
CREATE TABLE tokens (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE progress (id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT NOT NULL, windows INTEGER NOT NULL,
	tokens INTEGER NOT NULL, checksum TEXT NOT NULL);
`

// ShardInfo describes one corpus shard in the meta table.
type ShardInfo struct {
	Name    string     `json:"name"`
	Hash    string     `json:"sha256"`
	Files   []FileInfo `json:"files"`
	Tokens  int64      `json:"tokens"`
	Windows int64      `json:"windows"`
}

// FileInfo is one corpus file.
type FileInfo struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Meta is the meta table of an atlas.
type Meta struct {
	SchemaVersion    int         `json:"schema_version"`
	GliaVersion      string      `json:"glia_version"`
	ModelFingerprint string      `json:"model_fingerprint"`
	ModelName        string      `json:"model_name"`
	Settings         Settings    `json:"settings"`
	Corpus           []ShardInfo `json:"corpus"`
	Packing          string      `json:"packing"`
	TextField        string      `json:"text_field"`
	DocSep           string      `json:"doc_sep"`
	MaxTokens        int64       `json:"max_tokens"`
	Status           string      `json:"status"` // "building" or "complete"
	Tokens           int64       `json:"tokens"`
	Windows          int64       `json:"windows"`
	HistEdges        []float64   `json:"-"`
	CreatedAt        string      `json:"created_at"`
	UpdatedAt        string      `json:"updated_at"`
}

// Statuses.
const (
	StatusBuilding = "building"
	StatusComplete = "complete"
)

func shardInfos(shards []corpus.Shard) []ShardInfo {
	out := make([]ShardInfo, len(shards))
	for i, s := range shards {
		out[i] = ShardInfo{Name: s.Name, Hash: s.Hash}
		for _, f := range s.Files {
			out[i].Files = append(out[i].Files, FileInfo{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
		}
	}
	return out
}

func (m *Meta) kv() map[string]string {
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	edges := HistEdges()
	fe := make([]any, len(edges))
	for i, e := range edges {
		switch {
		case math.IsInf(e, -1):
			fe[i] = "-inf"
		case math.IsInf(e, 1):
			fe[i] = "inf"
		default:
			fe[i] = e
		}
	}
	return map[string]string{
		"schema_version":    strconv.Itoa(m.SchemaVersion),
		"glia_version":      m.GliaVersion,
		"model_fingerprint": m.ModelFingerprint,
		"model_name":        m.ModelName,
		"settings":          js(m.Settings),
		"hooks":             js(m.Settings.Hooks),
		"ctx":               strconv.Itoa(m.Settings.Ctx),
		"top_k":             strconv.Itoa(m.Settings.TopK),
		"radius":            strconv.Itoa(m.Settings.Radius),
		"threshold":         strconv.FormatFloat(float64(m.Settings.Threshold), 'g', -1, 32),
		"random_k":          strconv.Itoa(m.Settings.RandomK),
		"bands":             strconv.Itoa(m.Settings.Bands),
		"band_k":            strconv.Itoa(m.Settings.BandK),
		"hist_edges":        js(fe),
		"corpus":            js(m.Corpus),
		"packing":           m.Packing,
		"text_field":        m.TextField,
		"doc_sep":           m.DocSep,
		"max_tokens":        strconv.FormatInt(m.MaxTokens, 10),
		"status":            m.Status,
		"tokens":            strconv.FormatInt(m.Tokens, 10),
		"windows":           strconv.FormatInt(m.Windows, 10),
		"created_at":        m.CreatedAt,
		"updated_at":        m.UpdatedAt,
	}
}

// TimingMetaKeys are the meta keys that differ between otherwise identical builds.
var TimingMetaKeys = []string{"created_at", "updated_at", "glia_version"}

// sqliteURI is the URI that opens path with SQLite query params. The
// characters that the URI syntax reserves (%, ? and #) are escaped, so that
// `--out 'q?mode=ro.db'` names that file rather than q opened read-only; an
// absolute path gets an empty authority, so that //x is not read as a host.
func sqliteURI(path, params string) string {
	var b strings.Builder
	b.WriteString("file:")
	if strings.HasPrefix(path, "/") {
		b.WriteString("//")
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("?")
	b.WriteString(params)
	return b.String()
}

// openMode is how an existing atlas is opened.
type openMode int

const (
	modeReadWrite openMode = iota
	modeReadOnly           // mode=ro: no writes; still needs the -shm file of a WAL database, or to create it
	modeImmutable          // immutable=1: no locks and no -wal/-shm; only for files nobody is writing
)

var openParams = [...]string{
	modeReadWrite: "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)",
	modeReadOnly:  "mode=ro&_pragma=busy_timeout(10000)",
	modeImmutable: "mode=ro&immutable=1",
}

func (m openMode) String() string { return [...]string{"read-write", "read-only", "immutable"}[m] }

func openSQLite(path string) (*sql.DB, error) { return openSQLiteMode(path, modeReadWrite) }

func openSQLiteMode(path string, mode openMode) (*sql.DB, error) {
	db, err := sql.Open("sqlite", sqliteURI(path, openParams[mode]))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// openExisting opens an atlas database for writing (resuming a build,
// merging) and checks that it is intact and of this schema version.
func openExisting(path string) (*sql.DB, *Meta, error) {
	return openFirst(path, modeReadWrite)
}

// openFirst opens an existing atlas in the first of modes that works. A
// mode that fails because SQLite cannot open or write a file (a read-only
// mount, a directory without write permission: the -wal and -shm files
// cannot be created) falls through to the next; corruption does not.
func openFirst(path string, modes ...openMode) (*sql.DB, *Meta, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("atlas: %w", err)
	}
	var tried []string
	for _, mode := range modes {
		db, m, err := openChecked(path, mode)
		if err == nil {
			return db, m, nil
		}
		if !cannotOpen(err) {
			return nil, nil, err
		}
		tried = append(tried, fmt.Sprintf("%s: %v", mode, err))
	}
	return nil, nil, fmt.Errorf("atlas: cannot open %s (%s); a database in WAL mode needs its -wal and -shm files, or a directory where they can be created",
		path, strings.Join(tried, "; "))
}

// cannotOpen reports whether err is SQLite failing to open, lock or write
// a file, rather than finding a damaged or foreign database.
func cannotOpen(err error) bool {
	var se interface{ Code() int }
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case 3, 8, 10, 14: // SQLITE_PERM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN
		return true
	}
	return false
}

// openChecked opens path in one mode and checks it.
func openChecked(path string, mode openMode) (*sql.DB, *Meta, error) {
	db, err := openSQLiteMode(path, mode)
	if err != nil {
		return nil, nil, fmt.Errorf("atlas: opening %s: %w", path, err)
	}
	fail := func(err error) (*sql.DB, *Meta, error) { db.Close(); return nil, nil, err }
	unreadable := func(err error) (*sql.DB, *Meta, error) {
		if cannotOpen(err) {
			return fail(err)
		}
		return fail(fmt.Errorf("atlas: %s is not a readable SQLite database (corrupted or not an atlas): %w", path, err))
	}
	var res []string
	rows, err := db.Query("PRAGMA quick_check")
	if err != nil {
		return unreadable(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return unreadable(err)
	}
	rows.Close()
	if len(res) != 1 || res[0] != "ok" {
		return fail(fmt.Errorf("atlas: %s is corrupted (SQLite integrity check: %s); rebuild it", path, strings.Join(res, "; ")))
	}
	m, err := readMeta(db)
	if err != nil {
		return fail(fmt.Errorf("atlas: %s: %w", path, err))
	}
	return db, m, nil
}

func readMeta(db *sql.DB) (*Meta, error) {
	rows, err := db.Query("SELECT key, value FROM meta")
	if err != nil {
		return nil, fmt.Errorf("not a glia atlas database (no meta table)")
	}
	kv := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, err
		}
		kv[k] = v
	}
	rows.Close()
	sv, ok := kv["schema_version"]
	if !ok {
		return nil, fmt.Errorf("not a glia atlas database (no schema_version)")
	}
	v, err := strconv.Atoi(sv)
	if err != nil || v != SchemaVersion {
		return nil, fmt.Errorf("atlas schema version %s, but this glia reads version %d; rebuild the atlas with this glia (or use the glia that wrote it, %s)", sv, SchemaVersion, kv["glia_version"])
	}
	m := &Meta{SchemaVersion: v, GliaVersion: kv["glia_version"], ModelFingerprint: kv["model_fingerprint"],
		ModelName: kv["model_name"], Packing: kv["packing"], TextField: kv["text_field"], DocSep: kv["doc_sep"],
		Status: kv["status"], CreatedAt: kv["created_at"], UpdatedAt: kv["updated_at"], HistEdges: HistEdges()}
	if err := json.Unmarshal([]byte(kv["settings"]), &m.Settings); err != nil {
		return nil, fmt.Errorf("meta settings unreadable (corrupted?): %v", err)
	}
	if err := json.Unmarshal([]byte(kv["corpus"]), &m.Corpus); err != nil {
		return nil, fmt.Errorf("meta corpus unreadable (corrupted?): %v", err)
	}
	m.MaxTokens, _ = strconv.ParseInt(kv["max_tokens"], 10, 64)
	m.Tokens, _ = strconv.ParseInt(kv["tokens"], 10, 64)
	m.Windows, _ = strconv.ParseInt(kv["windows"], 10, 64)
	return m, nil
}

// progressRow is the checkpointed corpus cursor.
type progressRow struct {
	Cursor   corpus.Cursor
	Windows  int64
	Tokens   int64
	Checksum string
}

func readProgress(db *sql.DB) (*progressRow, error) {
	var c string
	p := &progressRow{}
	err := db.QueryRow("SELECT cursor, windows, tokens, checksum FROM progress WHERE id = 1").Scan(&c, &p.Windows, &p.Tokens, &p.Checksum)
	if err != nil {
		return nil, fmt.Errorf("no checkpoint in the database (%v)", err)
	}
	if err := json.Unmarshal([]byte(c), &p.Cursor); err != nil {
		return nil, fmt.Errorf("checkpoint cursor unreadable (corrupted?): %v", err)
	}
	return p, nil
}

// Blobs are little-endian int32 (tokens) or float32 (activations) arrays;
// histograms are little-endian uint64.
func i32Blob(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func f32Blob(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func u64Blob(v []uint64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	return b
}

func blobI32(b []byte) []int32 {
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func blobF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func blobU64(b []byte) []uint64 {
	v := make([]uint64, len(b)/8)
	for i := range v {
		v[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return v
}

// checksum is an order-independent sum of row hashes over units and
// examples; it is stored with each checkpoint and verified when a state is
// loaded, so that a damaged or edited database is not silently extended.
type checksum uint64

func (c *checksum) add(parts ...any) {
	h := uint64(14695981039346656037)
	feed := func(b []byte) {
		for _, x := range b {
			h ^= uint64(x)
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	var buf [8]byte
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			feed([]byte(v))
		case []byte:
			feed(v)
		case int64:
			binary.LittleEndian.PutUint64(buf[:], uint64(v))
			feed(buf[:])
		case float64:
			if v == 0 {
				v = 0 // SQLite stores -0.0 as 0
			}
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
			feed(buf[:])
		default:
			panic(fmt.Sprintf("checksum: %T", p))
		}
	}
	*c += checksum(mix64(h))
}

func (c checksum) String() string { return fmt.Sprintf("%016x", uint64(c)) }

// unitRowValues computes the stored columns of a unit.
func unitRow(st unitStats) (variance, std, density, densityAbove float64) {
	if st.count > 0 {
		variance = st.m2 / float64(st.count)
		density = float64(st.npos) / float64(st.count)
		densityAbove = float64(st.nabove) / float64(st.count)
	}
	return variance, math.Sqrt(variance), density, densityAbove
}

func nullableF32(x float32) any {
	if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
		return nil
	}
	return float64(x)
}

// rewriteFraction of a hook's units with changed examples above which a
// checkpoint rewrites all of the hook's examples (one DELETE) rather than
// unit by unit.
var rewriteFraction = 0.5

// writeState replaces the units, examples and tokens tables and the
// progress row in one transaction, with the meta table. With create, the
// same transaction first makes the tables, so that a new database is either
// a complete first checkpoint or has no tables at all.
func writeState(db *sql.DB, meta *Meta, hooks []*hookState, prog progressRow, tokenText func(int32) string, create bool) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if create {
		if _, err := tx.Exec(schemaSQL); err != nil {
			return err
		}
	}
	for _, q := range []string{"DELETE FROM units", "DELETE FROM tokens"} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	// Examples are rewritten only for units whose examples changed since
	// the last checkpoint, or for a whole hook when most did.
	delUnit, err := tx.Prepare("DELETE FROM examples WHERE hook = ? AND unit = ?")
	if err != nil {
		return err
	}
	defer delUnit.Close()
	rewrite := make([]bool, len(hooks))
	for i, hs := range hooks {
		n := 0
		for _, d := range hs.dirty {
			if d {
				n++
			}
		}
		if rewrite[i] = hs.allDirty || float64(n) > rewriteFraction*float64(hs.spec.Width); rewrite[i] {
			if _, err := tx.Exec("DELETE FROM examples WHERE hook = ?", hs.spec.Name); err != nil {
				return err
			}
		}
	}
	units := newRowWriter(tx, "units", 14)
	examples := newRowWriter(tx, "examples", 15)
	var sum checksum
	ids := map[int32]bool{}
	for i, hs := range hooks {
		name := hs.spec.Name
		for u := 0; u < hs.spec.Width; u++ {
			write := rewrite[i] || hs.dirty[u]
			if write && !rewrite[i] {
				if _, err := delUnit.Exec(name, u); err != nil {
					return err
				}
			}
			st := hs.stats(u)
			v, sd, dens, densA := unitRow(st)
			hb := u64Blob(st.hist)
			if err := units.add(name, u, st.count, st.mean, st.m2, v, sd, nullableF32(st.min), nullableF32(st.max),
				st.npos, st.nabove, dens, densA, hb); err != nil {
				return err
			}
			sum.add(name, int64(u), st.count, st.mean, st.m2, float64(st.min), float64(st.max), st.npos, st.nabove, hb)
			for _, e := range hs.examples(u) {
				shard, win, pos := splitKey(e.s.key)
				tb, ab := i32Blob(e.tokens), f32Blob(e.acts)
				if write {
					if err := examples.add(name, u, e.kind, int64(e.band), e.rank, float64(e.s.act), shard, win, pos,
						e.doc, e.start, pos-int(e.start), int64(e.s.h), tb, ab); err != nil {
						return err
					}
				}
				sum.add(name, int64(u), e.kind, int64(e.band), int64(e.rank), float64(e.s.act), int64(e.s.key),
					e.doc, int64(e.start), int64(e.s.h), tb, ab)
				for _, id := range e.tokens {
					ids[id] = true
				}
			}
		}
	}
	if err := units.flush(); err != nil {
		return err
	}
	if err := examples.flush(); err != nil {
		return err
	}
	insT, err := tx.Prepare("INSERT INTO tokens VALUES (?,?)")
	if err != nil {
		return err
	}
	defer insT.Close()
	sorted := make([]int32, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, id := range sorted {
		if _, err := insT.Exec(id, tokenText(id)); err != nil {
			return err
		}
	}
	cur, _ := json.Marshal(prog.Cursor)
	if _, err := tx.Exec("INSERT OR REPLACE INTO progress VALUES (1, ?, ?, ?, ?)", string(cur), prog.Windows, prog.Tokens, sum.String()); err != nil {
		return err
	}
	meta.UpdatedAt = time.Now().UTC().Format(time.RFC3339)
	for k, v := range meta.kv() {
		if _, err := tx.Exec("INSERT OR REPLACE INTO meta VALUES (?, ?)", k, v); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, hs := range hooks {
		clear(hs.dirty)
		hs.allDirty = false
	}
	return nil
}

// loadState reads the units and examples of db into fresh hook states,
// verifying the checkpoint checksum. shardOffset is added to every stored
// shard number (for merging).
func loadState(db *sql.DB, set *Settings, shardOffset int, want string) ([]*hookState, map[int32]string, error) {
	hooks := make([]*hookState, len(set.Hooks))
	byName := map[string]*hookState{}
	for i, h := range set.Hooks {
		hooks[i] = newHookState(h, set)
		byName[h.Name] = hooks[i]
	}
	var sum checksum
	rows, err := db.Query("SELECT hook, unit, count, mean, m2, min, max, n_pos, n_above, hist FROM units")
	if err != nil {
		return nil, nil, err
	}
	seen := 0
	for rows.Next() {
		var name string
		var u int
		var st unitStats
		var mn, mx sql.NullFloat64
		var hb []byte
		if err := rows.Scan(&name, &u, &st.count, &st.mean, &st.m2, &mn, &mx, &st.npos, &st.nabove, &hb); err != nil {
			rows.Close()
			return nil, nil, err
		}
		hs := byName[name]
		if hs == nil || u < 0 || u >= hs.spec.Width || len(hb) != 8*NumBins {
			rows.Close()
			return nil, nil, fmt.Errorf("unit row %s:%d does not fit the atlas settings (corrupted?)", name, u)
		}
		st.min, st.max = float32(math.Inf(1)), float32(math.Inf(-1))
		if mn.Valid {
			st.min = float32(mn.Float64)
		}
		if mx.Valid {
			st.max = float32(mx.Float64)
		}
		st.hist = blobU64(hb)
		hs.setStats(u, st)
		hs.count = st.count
		sum.add(name, int64(u), st.count, st.mean, st.m2, float64(st.min), float64(st.max), st.npos, st.nabove, hb)
		seen++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	total := 0
	for _, h := range set.Hooks {
		total += h.Width
	}
	if seen != total && seen != 0 {
		return nil, nil, fmt.Errorf("the database holds %d unit rows, the settings say %d (corrupted?)", seen, total)
	}
	rows, err = db.Query("SELECT hook, unit, kind, band, rank, activation, shard, win, pos, doc, start, hash, tokens, acts FROM examples")
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var name, kind string
		var u, rank, shard, pos int
		var band, win, doc, start, h int64
		var act float64
		var tb, ab []byte
		if err := rows.Scan(&name, &u, &kind, &band, &rank, &act, &shard, &win, &pos, &doc, &start, &h, &tb, &ab); err != nil {
			rows.Close()
			return nil, nil, err
		}
		hs := byName[name]
		if hs == nil || u < 0 || u >= hs.spec.Width || len(tb) != len(ab) {
			rows.Close()
			return nil, nil, fmt.Errorf("example row %s:%d does not fit the atlas settings (corrupted?)", name, u)
		}
		key := posKey(shard, win, pos)
		sum.add(name, int64(u), kind, band, int64(rank), act, int64(key), doc, start, h, tb, ab)
		e := exampleRow{kind: kind, band: int32(band), s: sample{act: float32(act), key: posKey(shard+shardOffset, win, pos), h: uint64(h)},
			start: int32(start), doc: doc, tokens: blobI32(tb), acts: blobF32(ab)}
		hs.restore(u, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if want != "" && sum.String() != want {
		return nil, nil, fmt.Errorf("the stored state does not match its checkpoint checksum (%s, stored %s): the database was damaged or edited; rebuild it", sum, want)
	}
	toks := map[int32]string{}
	rows, err = db.Query("SELECT id, text FROM tokens")
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var id int32
		var s string
		rows.Scan(&id, &s)
		toks[id] = s
	}
	rows.Close()
	return hooks, toks, nil
}

// rowWriter inserts rows many at a time (one statement per 64 rows), which
// makes checkpoints several times faster than one statement per row.
type rowWriter struct {
	tx    *sql.Tx
	table string
	cols  int
	args  []any
	stmt  *sql.Stmt
}

const rowsPerInsert = 64

func newRowWriter(tx *sql.Tx, table string, cols int) *rowWriter {
	return &rowWriter{tx: tx, table: table, cols: cols}
}

func (w *rowWriter) query(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", w.cols), ",") + ")"
	return "INSERT INTO " + w.table + " VALUES " + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

func (w *rowWriter) add(vals ...any) error {
	w.args = append(w.args, vals...)
	if len(w.args) < rowsPerInsert*w.cols {
		return nil
	}
	if w.stmt == nil {
		st, err := w.tx.Prepare(w.query(rowsPerInsert))
		if err != nil {
			return err
		}
		w.stmt = st
	}
	_, err := w.stmt.Exec(w.args...)
	w.args = w.args[:0]
	return err
}

func (w *rowWriter) flush() error {
	defer func() {
		if w.stmt != nil {
			w.stmt.Close()
		}
	}()
	if len(w.args) == 0 {
		return nil
	}
	_, err := w.tx.Exec(w.query(len(w.args)/w.cols), w.args...)
	w.args = w.args[:0]
	return err
}
