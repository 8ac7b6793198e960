package atlas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/atlas/atlastest"
)

// smallAtlas builds a tiny atlas at dir/name.
func smallAtlas(t *testing.T, dir, name string) string {
	t.Helper()
	c := writeCorpus(t, filepath.Join(dir, "corpus"), 3, 1, 8, 12)
	o := testOpts(t, filepath.Join(dir, name), c)
	mustBuild(t, atlastest.New(1, 8), o)
	return o.Out
}

// TestOpenURIEscaping: file names with the characters that SQLite's URI
// syntax reserves name that very file, for building and for reading.
func TestOpenURIEscaping(t *testing.T) {
	for _, name := range []string{"q?mode=ro.db", "frag#ment.db", "100%25.db", "sp ace.db", "a?b#c%.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := smallAtlas(t, dir, name)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the build did not write %s: %v", name, err)
			}
			a, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if a.Meta.Tokens == 0 {
				t.Errorf("%s: no tokens in the meta table", name)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if n := e.Name(); n != "corpus" && !strings.HasPrefix(n, name) {
					t.Errorf("stray file %q next to %q", n, name)
				}
			}
		})
	}
}

// TestOpenReadOnly: an atlas opened for reading refuses writes, and one
// whose -shm file cannot be created (as on a read-only mount or in a
// directory the user cannot write; here the name is a dangling symlink,
// which SQLite will not follow, so that the test also holds as root) still
// opens, immutable.
func TestOpenReadOnly(t *testing.T) {
	path := smallAtlas(t, t.TempDir(), "a.db")
	a, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB().Exec("INSERT OR REPLACE INTO meta VALUES ('x', 'y')"); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("a write through a read-only atlas: %v, want a readonly error", err)
	}
	if err := a.Verify(); err != nil {
		t.Error(err)
	}
	a.Close()

	os.Remove(path + "-shm") // left by the read-only connection
	if err := os.Symlink(filepath.Join(t.TempDir(), "missing"), path+"-shm"); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string) (*Atlas, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
		a, err := open(path)
		if err != nil {
			t.Errorf("%s without a -shm file: %v", name, err)
			continue
		}
		if err := a.Verify(); err != nil {
			t.Errorf("%s without a -shm file: %v", name, err)
		}
		a.Close()
	}
}

// TestOpenSaysWhy: when SQLite cannot open the file in any mode, the error
// says so, with each mode's error, rather than calling the file corrupted.
func TestOpenSaysWhy(t *testing.T) {
	dir := t.TempDir() // a directory: SQLite cannot open it at all
	_, err := Open(dir)
	if err == nil || strings.Contains(err.Error(), "corrupted") || !strings.Contains(err.Error(), "cannot open") ||
		!strings.Contains(err.Error(), "immutable: ") {
		t.Errorf("Open(a directory): %v", err)
	}
}
