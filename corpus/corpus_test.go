package corpus

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func byteEncode(s string) []int32 {
	out := make([]int32, len(s))
	for i := range s {
		out[i] = int32(s[i])
	}
	return out
}

func docs(t *testing.T, sh Shard, opt Options) []string {
	t.Helper()
	var out []string
	for _, f := range sh.Files {
		r, err := f.Open(opt)
		if err != nil {
			t.Fatal(err)
		}
		for {
			d, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
		r.Close()
	}
	return out
}

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "d", ".git"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "d", "b.txt"), []byte("B1||B2"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "d", "a.jsonl"), []byte("{\"text\":\"J1\"}\n\n{\"text\":\"J2\",\"x\":1}\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "d", ".hidden"), []byte("no"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "d", ".git", "x"), []byte("no"), 0o644))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("{\"body\":\"G1\"}\n"))
	zw.Close()
	must(os.WriteFile(filepath.Join(dir, "d", "sub", "c.jsonl.gz"), gz.Bytes(), 0o644))
	shards, err := Resolve([]string{filepath.Join(dir, "d")})
	must(err)
	var paths []string
	for _, f := range shards[0].Files {
		paths = append(paths, f.Path)
	}
	if want := []string{"a.jsonl", "b.txt", "sub/c.jsonl.gz"}; !reflect.DeepEqual(paths, want) {
		t.Fatalf("files %v, want %v", paths, want)
	}
	sh := shards[0]
	sh.Files = sh.Files[:2]
	if got, want := docs(t, sh, Options{DocSep: "||"}), []string{"J1", "J2", "B1", "B2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("docs %q, want %q", got, want)
	}
	if got, want := docs(t, sh, Options{}), []string{"J1", "J2", "B1||B2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("docs without separator %q, want %q", got, want)
	}
	sh.Files = shards[0].Files[2:]
	if got := docs(t, sh, Options{TextField: "body"}); !reflect.DeepEqual(got, []string{"G1"}) {
		t.Fatalf("gzipped jsonl: %q", got)
	}
	// Hashes are stable and depend on content.
	again, _ := Resolve([]string{filepath.Join(dir, "d")})
	if again[0].Hash != shards[0].Hash {
		t.Fatal("shard hash not stable")
	}
}

// TestPackingAndCursors checks the packing rule and that packing from any
// window's cursor continues with exactly the same windows.
func TestPackingAndCursors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("abcdefg|hi||jklmnopqrstu"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("vwxyz"), 0o644)
	other := filepath.Join(t.TempDir(), "c.txt")
	os.WriteFile(other, []byte("0123456789"), 0o644)
	shards, err := Resolve([]string{dir, other})
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{DocSep: "|"}
	all := func(from Cursor) []*Window {
		p, err := NewPacker(shards, opt, byteEncode, 1, 4, from)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var ws []*Window
		for {
			w, err := p.Next()
			if err == io.EOF {
				return ws
			}
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		}
	}
	ws := all(Cursor{})
	var got []string
	for _, w := range ws {
		s := ""
		for _, id := range w.IDs {
			if id == 1 {
				s += "^"
			} else {
				s += string(rune(id))
			}
		}
		got = append(got, s)
	}
	// Shard 0: ^abcdefg ^hi ^jklmnopqrstu ^vwxyz (the empty document is skipped)
	want := []string{"^abc", "defg", "^hi^", "jklm", "nopq", "rstu", "^vwx", "yz", "^012", "3456", "789"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("windows %q, want %q", got, want)
	}
	if ws[7].Shard != 0 || ws[8].Shard != 1 || ws[8].Index != 0 || ws[7].Index != 7 {
		t.Fatal("shard numbering")
	}
	if ws[2].Docs[3] != 3 || ws[2].Docs[0] != 1 {
		t.Fatalf("doc ids %v", ws[2].Docs)
	}
	for i := range ws {
		rest := all(ws[i].Next)
		if !reflect.DeepEqual(rest, ws[i+1:]) && !(len(rest) == 0 && i == len(ws)-1) {
			t.Fatalf("resuming after window %d (cursor %+v) gives different windows", i, ws[i].Next)
		}
	}
}
