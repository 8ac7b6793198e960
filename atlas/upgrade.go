package atlas

import (
	"fmt"
	"os"

	"github.com/glia-dev/glia/tokenizer"
)

// Upgrade converts the schema-1 atlas in into a schema-2 atlas out (which
// must not exist), statistics and examples unchanged. An unfinished build
// stays unfinished and resumes from out. Schema 1 kept only each example's
// span, so out's windows hold those spans and -1 elsewhere.
func Upgrade(in, out string) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("atlas: %s already exists; upgrade into a new file", out)
	}
	db, m, err := openFirst(in, modeReadOnly, modeImmutable)
	if err != nil {
		return err
	}
	defer db.Close()
	if m.SchemaVersion != 1 {
		return fmt.Errorf("atlas: %s is already a schema-%d atlas", in, m.SchemaVersion)
	}
	p, err := readProgress(db)
	if err != nil {
		return fmt.Errorf("atlas: %s: %w", in, err)
	}
	set := m.Settings
	hooks, ws, toks, err := loadStateV1(db, &set, p.Checksum)
	if err != nil {
		return withPath(in, err)
	}
	m.SchemaVersion = SchemaVersion
	for _, hs := range hooks {
		hs.set = &m.Settings
	}
	odb, err := openSQLite(out)
	if err != nil {
		return fmt.Errorf("atlas: creating %s: %w", out, err)
	}
	text := func(id int32) string {
		if s, ok := toks[id]; ok {
			return s
		}
		return tokenizer.Unknown(id)
	}
	if err := writeState(odb, m, hooks, ws, *p, text, true); err != nil {
		odb.Close()
		removeDB(out)
		return fmt.Errorf("atlas: writing %s: %w", out, err)
	}
	return odb.Close()
}
