package atlas

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/corpus"
	_ "modernc.org/sqlite" // pure-Go SQLite driver
)

// SchemaVersion is the version of the database layout this glia writes and
// reads. See docs/atlas.md.
const SchemaVersion = 2

// GliaVersion is recorded in every atlas; the build may set it.
var GliaVersion = "dev"

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
	Slice            Slice       `json:"-"`      // the slice of the corpus built (zero: all of it); meta key "slice"
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
		"slice":             m.Slice.String(),
		"slice_batch":       strconv.Itoa(m.Slice.Batch),
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
	modeReadWrite: "_pragma=busy_timeout(10000)&_pragma=page_size(65536)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-32768)",
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
	db, m, err := openFirst(path, modeReadWrite)
	if err == nil && m.SchemaVersion != SchemaVersion {
		db.Close()
		return nil, nil, &SchemaError{Path: path, Version: m.SchemaVersion}
	}
	return db, m, err
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
	if err != nil || v != SchemaVersion && v != 1 {
		return nil, fmt.Errorf("atlas schema version %s, but this glia reads version %d (and converts version 1); rebuild the atlas with this glia (or use the glia that wrote it, %s)", sv, SchemaVersion, kv["glia_version"])
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
	if m.Slice, err = ParseSlice(kv["slice"]); err != nil {
		return nil, fmt.Errorf("meta slice unreadable (corrupted?): %v", err)
	}
	if !m.Slice.Whole() {
		m.Slice.Batch, _ = strconv.Atoi(kv["slice_batch"])
	}
	m.Tokens, _ = strconv.ParseInt(kv["tokens"], 10, 64)
	m.Windows, _ = strconv.ParseInt(kv["windows"], 10, 64)
	return m, nil
}

// progressRow is the checkpointed corpus cursor.
type progressRow struct {
	Cursor   corpus.Cursor
	Windows  int64 // windows and tokens recorded
	Tokens   int64
	Checksum string
	// Windows and tokens of the corpus passed up to Cursor, the other
	// slices' included (equal to Windows and Tokens without slices).
	CorpusWindows, CorpusTokens int64
}

func readProgress(db *sql.DB) (*progressRow, error) {
	var c string
	p := &progressRow{}
	err := db.QueryRow("SELECT cursor, windows, tokens, checksum FROM progress WHERE id = 1").Scan(&c, &p.Windows, &p.Tokens, &p.Checksum)
	p.CorpusWindows, p.CorpusTokens = p.Windows, p.Tokens
	if err == nil {
		// Schema 1 has no slices and no corpus columns.
		db.QueryRow("SELECT corpus_windows, corpus_tokens FROM progress WHERE id = 1").Scan(&p.CorpusWindows, &p.CorpusTokens)
	}
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

// rowWriter inserts rows many at a time (one statement per 64 rows), which
// makes checkpoints several times faster than one statement per row.
type rowWriter struct {
	tx     *sql.Tx
	insert string // "INSERT INTO table"
	cols   int
	args   []any
	stmt   *sql.Stmt
}

const rowsPerInsert = 64

func newRowWriter(tx *sql.Tx, insert string, cols int) *rowWriter {
	return &rowWriter{tx: tx, insert: insert, cols: cols}
}

func (w *rowWriter) query(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", w.cols), ",") + ")"
	return w.insert + " VALUES " + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
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
