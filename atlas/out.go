package atlas

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// outState is what an existing output path holds.
type outState struct {
	path     string
	meta     *Meta        // nil: no readable atlas meta
	prog     *progressRow // nil: no checkpoint
	notAtlas error        // why it is not a glia atlas (nil: it is one, or it is ours and empty)
}

// unstarted reports a database a glia build left before its first
// checkpoint with tokens: empty, tables without meta, or meta without work.
// Such a file holds nothing worth keeping.
func (o *outState) unstarted() bool {
	return o.notAtlas == nil && (o.meta == nil || o.meta.Status != StatusComplete && (o.prog == nil || o.prog.Tokens == 0))
}

func (o *outState) what() string {
	switch {
	case o.unstarted():
		return "an earlier build stopped before its first checkpoint"
	case o.meta.Status == StatusComplete:
		return "a complete atlas"
	}
	return fmt.Sprintf("an unfinished build at %d tokens", o.tokens())
}

func (o *outState) tokens() int64 {
	if o.prog == nil {
		return 0
	}
	return o.prog.Tokens
}

// atlasTables are the tables of an atlas database (schemaSQL).
var atlasTables = map[string]bool{"meta": true, "units": true, "examples": true, "windows": true, "tokens": true, "progress": true,
	"images": true, "image_units": true} // an image atlas (images_store.go)

// probeOut reads what path holds; nil when nothing (or an empty file).
func probeOut(path string) (*outState, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && st.Size() == 0 && !st.IsDir() {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("atlas: %w", err)
	}
	o := &outState{path: path}
	if st.IsDir() {
		o.notAtlas = errors.New("a directory")
		return o, nil
	}
	// Read-only, so that a file that is not ours is not switched to WAL.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("atlas: opening %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		o.notAtlas = errors.New("not an SQLite database")
		return o, nil
	}
	var foreign []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		if !atlasTables[name] {
			foreign = append(foreign, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		o.notAtlas = fmt.Errorf("an unreadable SQLite database: %v", err)
		return o, nil
	}
	if len(foreign) > 0 {
		o.notAtlas = fmt.Errorf("it has a table %q", foreign[0])
		return o, nil
	}
	if o.meta, err = readMeta(db); err != nil {
		o.meta = nil // tables of ours without meta rows: a build that stopped while creating it
		return o, nil
	}
	o.prog, _ = readProgress(db)
	return o, nil
}

// decide chooses what to do with an existing output: resume it (true),
// replace it (false), or nothing (res.AlreadyComplete, or an error).
func decide(old *outState, want *Meta, opt *BuildOptions, res *BuildResult) (bool, error) {
	if old.notAtlas != nil {
		return false, &ExistsError{Path: old.path, NotAtlas: old.notAtlas}
	}
	if old.unstarted() {
		return false, nil
	}
	differs := sameBuild(old.meta, want)
	complete := old.meta.Status == StatusComplete
	switch {
	case opt.Force:
		return false, nil
	case complete && differs == nil:
		res.AlreadyComplete = true
		res.Tokens, res.Windows = old.meta.Tokens, old.meta.Windows
		return false, nil
	case opt.Resume && !complete:
		if differs != nil {
			return false, fmt.Errorf("atlas: cannot resume %s: %w", old.path, differs)
		}
		return true, nil
	}
	return false, &ExistsError{Path: old.path, Complete: complete, Tokens: old.tokens(), Differs: differs}
}

// createDB makes a new atlas at path with its first (empty) checkpoint in
// one transaction, so that a build killed meanwhile leaves a database
// without tables, which the next build replaces. On failure (a full disk)
// it removes what it made.
func createDB(path string, meta *Meta, hooks []*hookState, ws *windowStore, tokenText func(int32) string) (*sql.DB, error) {
	db, err := openSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("atlas: creating %s: %w", path, err)
	}
	if err := writeState(db, meta, hooks, ws, progressRow{}, tokenText, true); err != nil {
		db.Close()
		removeDB(path)
		return nil, fmt.Errorf("atlas: creating %s: %w", path, err)
	}
	return db, nil
}

// removeDB removes a database and its SQLite side files.
func removeDB(path string) error {
	err := os.Remove(path)
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		os.Remove(path + suf)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
