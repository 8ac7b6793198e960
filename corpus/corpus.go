// Package corpus reads text corpora for glia: plain text files, directories
// of them, and JSON Lines, each optionally gzipped. It returns documents in a
// deterministic order and packs their tokens into fixed-length windows.
//
// Each path given to Resolve is one shard. A directory is walked in sorted
// order (hidden files and directories, whose names start with ".", are
// skipped). A file ending in .jsonl (or .jsonl.gz) holds one JSON object per
// line whose text field is one document; any other file is one document, or
// several when Options.DocSep is set (the file is split on that string).
// Files ending in .gz are decompressed. Resolve and FSShard read every file
// once, to hash it and to check that it is text: a NUL byte or any invalid
// UTF-8 is a *TextError naming the file, byte offset and line, before any
// work starts. A few stray bytes are refused as firmly as a binary file: they
// mean the file is in another encoding (Latin-1, UTF-16), whose text would
// otherwise reach the tokenizer silently garbled.
package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Options control how files are split into documents.
type Options struct {
	// TextField is the JSON field holding a document's text in .jsonl files
	// ("text" when empty).
	TextField string
	// DocSep, when not empty, splits plain text files into documents at each
	// occurrence. Empty: a plain text file is one document.
	DocSep string
}

// ErrNoField: a JSON Lines record lacks the text field (Options.TextField).
var ErrNoField = errors.New("no field")

func (o Options) textField() string {
	if o.TextField == "" {
		return "text"
	}
	return o.TextField
}

// File is one corpus file.
type File struct {
	Path     string // as given, or relative to the shard's directory
	Size     int64  // bytes on disk (compressed size for .gz)
	TextSize int64  // bytes of text (decompressed size for .gz): what progress counts
	SHA256   string // hex digest of the bytes on disk
	name     string // the path to show in errors (the full path for files on disk)
	open     func() (io.ReadCloser, error)
}

// Shard is the set of files named by one corpus path. Tokens are packed into
// windows within a shard; windows never span two shards.
type Shard struct {
	Name  string // the path as given
	Files []File
	Hash  string // hex sha256 over the files' relative paths and digests
}

// Bytes is the shard's total size on disk.
func (s Shard) Bytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Size
	}
	return n
}

// TextBytes is the shard's total size of text (decompressed).
func (s Shard) TextBytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.TextSize
	}
	return n
}

// Resolve turns corpus paths into shards, hashing every file. It reports
// paths that do not exist and directories without files.
func Resolve(paths []string) ([]Shard, error) {
	if len(paths) == 0 {
		return nil, errors.New("corpus: no corpus paths given")
	}
	var shards []Shard
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		var files []File
		if st.IsDir() {
			err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if q != p && strings.HasPrefix(d.Name(), ".") {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.Type().IsRegular() {
					rel, _ := filepath.Rel(p, q)
					files = append(files, osFile(q, filepath.ToSlash(rel)))
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("corpus: %w", err)
			}
			sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
			if len(files) == 0 {
				return nil, fmt.Errorf("corpus: directory %s holds no files", p)
			}
		} else {
			files = []File{osFile(p, filepath.Base(p))}
		}
		sh, err := newShard(p, files)
		if err != nil {
			return nil, err
		}
		shards = append(shards, sh)
	}
	return shards, nil
}

func osFile(full, rel string) File {
	return File{Path: rel, name: full, open: func() (io.ReadCloser, error) { return os.Open(full) }}
}

// FSShard makes one shard of every regular file in fsys (sorted), e.g. an
// embedded corpus.
func FSShard(fsys fs.FS, name string) (Shard, error) {
	var files []File
	err := fs.WalkDir(fsys, ".", func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(path.Base(q), ".") {
			q := q
			files = append(files, File{Path: q, name: path.Join(name, q), open: func() (io.ReadCloser, error) { return fsys.Open(q) }})
		}
		return nil
	})
	if err != nil {
		return Shard{}, fmt.Errorf("corpus: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	if len(files) == 0 {
		return Shard{}, fmt.Errorf("corpus: %s holds no files", name)
	}
	return newShard(name, files)
}

func newShard(name string, files []File) (Shard, error) {
	total := sha256.New()
	for i := range files {
		if err := files[i].scan(); err != nil {
			return Shard{}, err
		}
		fmt.Fprintf(total, "%s\x00%s\n", files[i].Path, files[i].SHA256)
	}
	return Shard{Name: name, Files: files, Hash: hex.EncodeToString(total.Sum(nil))}, nil
}

// scan reads f once: it hashes the bytes on disk and checks (after
// decompression) that they are text, so that a bad file is reported before a
// build creates anything.
func (f *File) scan() error {
	r, err := f.open()
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	disk := &countWriter{w: h}
	raw := io.TeeReader(r, disk)
	check := &textChecker{file: f.name}
	text := raw
	if strings.HasSuffix(f.Path, ".gz") {
		gz, err := gzip.NewReader(raw)
		if err != nil {
			return fmt.Errorf("corpus: %s: not a valid gzip file: %w", f.name, err)
		}
		defer gz.Close()
		text, check.gz = gz, true
	}
	if _, err := io.Copy(check, text); err != nil {
		var te *TextError
		if errors.As(err, &te) {
			return err
		}
		return fmt.Errorf("corpus: reading %s: %w", f.name, err)
	}
	if err := check.close(); err != nil {
		return err
	}
	// Bytes after the gzip stream still belong to the file's hash.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return fmt.Errorf("corpus: reading %s: %w", f.name, err)
	}
	f.Size, f.TextSize = disk.n, check.off
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

// DocReader yields the documents of one file in order.
type DocReader struct {
	file    File
	opt     Options
	rc      io.Closer
	br      *bufio.Reader
	jsonl   bool
	line    int
	pending []string // split documents not yet returned (plain text)
	done    bool
	// consumed counts the bytes of text up to the end of the last document
	// returned (separators and skipped lines included): progress by bytes.
	consumed int64
}

// Open starts reading the documents of f.
func (f File) Open(opt Options) (*DocReader, error) {
	rc, err := f.open()
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	name := f.Path
	var r io.Reader = rc
	var closer io.Closer = rc
	if strings.HasSuffix(name, ".gz") {
		gz, err := gzip.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("corpus: %s: not a valid gzip file: %w", f.Path, err)
		}
		r = gz
		closer = multiCloser{gz, rc}
		name = strings.TrimSuffix(name, ".gz")
	}
	return &DocReader{file: f, opt: opt, rc: closer, br: bufio.NewReaderSize(r, 1<<16),
		jsonl: strings.HasSuffix(name, ".jsonl")}, nil
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var err error
	for _, c := range m {
		if e := c.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Close releases the file.
func (d *DocReader) Close() error { return d.rc.Close() }

// Next returns the next document, or io.EOF.
func (d *DocReader) Next() (string, error) {
	if d.jsonl {
		return d.nextJSON()
	}
	if len(d.pending) == 0 {
		if d.done {
			return "", io.EOF
		}
		d.done = true
		data, err := io.ReadAll(d.br)
		if err != nil {
			return "", fmt.Errorf("corpus: reading %s: %w", d.file.Path, err)
		}
		if err := checkText(d.file.name, data); err != nil {
			return "", err
		}
		if d.opt.DocSep == "" {
			d.pending = []string{string(data)}
		} else {
			d.pending = strings.Split(string(data), d.opt.DocSep)
		}
	}
	doc := d.pending[0]
	d.pending = d.pending[1:]
	d.consumed += int64(len(doc))
	if len(d.pending) > 0 {
		d.consumed += int64(len(d.opt.DocSep))
	}
	return doc, nil
}

// Consumed is the number of bytes of text read up to the end of the last
// document Next returned.
func (d *DocReader) Consumed() int64 { return d.consumed }

func (d *DocReader) nextJSON() (string, error) {
	for {
		line, err := d.br.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return "", io.EOF
			}
			return "", fmt.Errorf("corpus: reading %s: %w", d.file.Path, err)
		}
		d.line++
		d.consumed += int64(len(line))
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := checkText(fmt.Sprintf("%s:%d", d.file.name, d.line), line); err != nil {
			return "", err
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			return "", fmt.Errorf("corpus: %s:%d: not a JSON object: %v", d.file.Path, d.line, err)
		}
		raw, ok := obj[d.opt.textField()]
		if !ok {
			return "", &FieldError{File: d.file.Path, Line: d.line, Field: d.opt.textField()}
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("corpus: %s:%d: field %q is not a string", d.file.Path, d.line, d.opt.textField())
		}
		return s, nil
	}
}

// FieldError is a JSON Lines record without the text field.
type FieldError struct {
	File  string
	Line  int
	Field string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("corpus: %s:%d: no field %q", e.File, e.Line, e.Field)
}

// Is makes a FieldError match ErrNoField, which front ends map to their
// own way of naming the text field.
func (e *FieldError) Is(target error) bool { return target == ErrNoField }

// TextError is a corpus file that is not UTF-8 text.
type TextError struct {
	File   string // path, with ":LINE" for a JSON Lines record
	Offset int64  // byte offset of the first bad byte (in the decompressed text for .gz)
	Line   int64  // 1-based line of that byte
	NUL    bool   // a NUL byte: the file looks binary
	GZ     bool   // the offset is in the decompressed text
}

func (e *TextError) Error() string {
	of := ""
	if e.GZ {
		of = " of its decompressed text"
	}
	if e.NUL {
		return fmt.Sprintf("corpus: %s looks binary (NUL byte at offset %d%s, line %d); give text, .jsonl or .gz files", e.File, e.Offset, of, e.Line)
	}
	return fmt.Sprintf("corpus: %s: invalid UTF-8 at byte offset %d%s (line %d); the corpus must be UTF-8 text (convert it, e.g. iconv -f latin1 -t utf-8)", e.File, e.Offset, of, e.Line)
}

// textChecker is an io.Writer that fails at the first NUL byte or invalid
// UTF-8 sequence, however the text is cut into writes.
type textChecker struct {
	file string
	gz   bool
	off  int64  // bytes checked
	line int64  // newlines before off
	pend []byte // an incomplete rune left by the last write
}

func (c *textChecker) Write(p []byte) (int, error) {
	n := len(p)
	if len(c.pend) > 0 {
		p = append(c.pend, p...)
		c.off -= int64(len(c.pend))
		c.pend = nil
	}
	// Keep back a rune cut by the end of the write.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if err := c.check(p[:cut]); err != nil {
		return 0, err
	}
	c.pend = append([]byte(nil), p[cut:]...)
	c.off += int64(len(c.pend))
	return n, nil
}

// close reports a rune cut by the end of the text.
func (c *textChecker) close() error {
	c.off -= int64(len(c.pend))
	p := c.pend
	c.pend = nil
	if len(p) > 0 {
		return c.fail(p, 0, false)
	}
	return nil
}

func (c *textChecker) check(p []byte) error {
	nul := bytes.IndexByte(p, 0)
	if nul < 0 && utf8.Valid(p) {
		c.off += int64(len(p))
		c.line += int64(bytes.Count(p, []byte{'\n'}))
		return nil
	}
	for i := 0; i < len(p); {
		if p[i] == 0 {
			return c.fail(p, i, true)
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size <= 1 {
			return c.fail(p, i, false)
		}
		i += size
	}
	return nil // unreachable: p held a NUL or invalid UTF-8
}

func (c *textChecker) fail(p []byte, i int, nul bool) error {
	return &TextError{File: c.file, Offset: c.off + int64(i), Line: c.line + int64(bytes.Count(p[:i], []byte{'\n'})) + 1, NUL: nul, GZ: c.gz}
}

// checkText reports data that is not UTF-8 text.
func checkText(where string, data []byte) error {
	return (&textChecker{file: where}).check(data)
}
