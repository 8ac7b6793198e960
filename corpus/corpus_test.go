package corpus

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
	all := func(from Cursor) []*Window { return packAll(t, shards, opt, 4, from, nil) }
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

// TestTextCheck: Resolve refuses a file that is not UTF-8 text, naming the
// file, the byte offset and the line, however the reads cut the text.
func TestTextCheck(t *testing.T) {
	gzipped := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	long := bytes.Repeat([]byte("héllo wörld\n"), 20000) // runes cut by 32 KiB reads
	for _, tc := range []struct {
		name string
		data []byte
		want *TextError // nil: valid
	}{
		{"valid.txt", long, nil},
		{"nul.bin", []byte("ab\ncd\x00ef"), &TextError{Offset: 5, Line: 2, NUL: true}},
		{"latin1.txt", append(append([]byte{}, long...), 'x', '\n', 'y', 0xe9, 'z'), &TextError{Offset: int64(len(long)) + 3, Line: 20002}},
		{"cut.txt", []byte("ok \xe2\x82"), &TextError{Offset: 3, Line: 1}},
		{"in.txt.gz", gzipped([]byte("a\nb\xff")), &TextError{Offset: 3, Line: 2, GZ: true}},
		{"ok.jsonl.gz", gzipped([]byte(`{"text":"é"}` + "\n")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.name)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			sh, err := Resolve([]string{p})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if sh[0].Files[0].Size != int64(len(tc.data)) {
					t.Fatalf("size %d, want %d", sh[0].Files[0].Size, len(tc.data))
				}
				return
			}
			var te *TextError
			if !errors.As(err, &te) {
				t.Fatalf("error %v, want a *TextError", err)
			}
			tc.want.File = p
			if *te != *tc.want {
				t.Fatalf("got %+v, want %+v", *te, *tc.want)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", tc.want.Offset)) {
				t.Fatalf("message %q does not name the file and offset", err)
			}
		})
	}
}

// TestWindowBytes: windows count the shard's text bytes, rising to the
// whole shard at its last window, for plain text, separated documents and
// JSON Lines.
func TestWindowBytes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), bytes.Repeat([]byte("abcdefghij"), 40), 0o644)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("one|two|three|"), 0o644)
	os.WriteFile(filepath.Join(dir, "c.jsonl"), []byte("{\"text\":\"hello there\"}\n\n{\"text\":\"more\"}\n"), 0o644)
	shards, err := Resolve([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	total := shards[0].TextBytes()
	if total != 400+14+40 {
		t.Fatalf("text bytes %d", total)
	}
	var last int64
	for i, w := range packAll(t, shards, Options{DocSep: "|"}, 16, Cursor{}, nil) {
		n := i + 1
		if w.Bytes <= last && n > 1 || w.Bytes > total {
			t.Fatalf("window %d: %d bytes after %d (of %d)", n, w.Bytes, last, total)
		}
		if n == 13 && (w.Bytes < 150 || w.Bytes > 250) { // a.txt is 401 tokens in 16-token windows
			t.Fatalf("window 13 of a 400-byte file at %d bytes", w.Bytes)
		}
		last = w.Bytes
	}
	if last != total {
		t.Fatalf("last window at %d bytes, want %d", last, total)
	}
}

// TestTokenizeNote: a large document is announced before it is encoded.
func TestTokenizeNote(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.txt")
	os.WriteFile(p, bytes.Repeat([]byte("x"), TokenizeNoteBytes+1), 0o644)
	small := filepath.Join(t.TempDir(), "small.txt")
	os.WriteFile(small, []byte("tiny"), 0o644)
	shards, err := Resolve([]string{small, p})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	packAll(t, shards, Options{}, 1<<20, Cursor{}, func(file string, n int, done bool) { events = append(events, fmt.Sprint(file, n, done)) })
	want := []string{fmt.Sprint(p, TokenizeNoteBytes+1, false), fmt.Sprint(p, TokenizeNoteBytes+1, true)}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}

// packAll packs shards from a cursor into ctx-token windows (BOS 1).
func packAll(t *testing.T, shards []Shard, opt Options, ctx int, from Cursor, onTokenize func(string, int, bool)) []*Window {
	t.Helper()
	p, err := NewPacker(shards, opt, byteEncode, 1, ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.OnTokenize = onTokenize
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
