// Package corpus reads text corpora for glia: plain text files, directories
// of them, and JSON Lines, each optionally gzipped. It returns documents in a
// deterministic order and packs their tokens into fixed-length windows.
//
// Each path given to Resolve is one shard. A directory is walked in sorted
// order (hidden files and directories, whose names start with ".", are
// skipped). A file ending in .jsonl (or .jsonl.gz) holds one JSON object per
// line whose text field is one document; any other file is one document, or
// several when Options.DocSep is set (the file is split on that string).
// Files ending in .gz are decompressed. A file that looks binary (a NUL byte,
// or more than 1% of invalid UTF-8) is an error that names it.
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
	Path   string // as given, or relative to the shard's directory
	Size   int64  // bytes on disk (compressed size for .gz)
	SHA256 string // hex digest of the bytes on disk
	open   func() (io.ReadCloser, error)
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
	return File{Path: rel, open: func() (io.ReadCloser, error) { return os.Open(full) }}
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
			files = append(files, File{Path: q, open: func() (io.ReadCloser, error) { return fsys.Open(q) }})
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
		f := &files[i]
		r, err := f.open()
		if err != nil {
			return Shard{}, fmt.Errorf("corpus: %w", err)
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil {
			return Shard{}, fmt.Errorf("corpus: reading %s: %w", f.Path, err)
		}
		f.Size = n
		f.SHA256 = hex.EncodeToString(h.Sum(nil))
		fmt.Fprintf(total, "%s\x00%s\n", f.Path, f.SHA256)
	}
	return Shard{Name: name, Files: files, Hash: hex.EncodeToString(total.Sum(nil))}, nil
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
		if err := checkText(d.file.Path, data); err != nil {
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
	return doc, nil
}

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
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := checkText(fmt.Sprintf("%s:%d", d.file.Path, d.line), line); err != nil {
			return "", err
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			return "", fmt.Errorf("corpus: %s:%d: not a JSON object: %v", d.file.Path, d.line, err)
		}
		raw, ok := obj[d.opt.textField()]
		if !ok {
			return "", fmt.Errorf("corpus: %s:%d: %w %q", d.file.Path, d.line, ErrNoField, d.opt.textField())
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("corpus: %s:%d: field %q is not a string", d.file.Path, d.line, d.opt.textField())
		}
		return s, nil
	}
}

// checkText reports data that looks binary.
func checkText(where string, data []byte) error {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fmt.Errorf("corpus: %s looks binary (NUL byte at offset %d); give text, .jsonl or .gz files", where, i)
	}
	bad := 0
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			bad++
		}
		i += n
	}
	if bad > 0 && bad*100 > len(data) {
		return fmt.Errorf("corpus: %s looks binary (%d invalid UTF-8 bytes in %d); give UTF-8 text", where, bad, len(data))
	}
	return nil
}
