package safetensors

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/glia-dev/glia/format"
)

// IndexFile and SingleFile are the names OpenModel looks for.
const (
	IndexFile  = "model.safetensors.index.json"
	SingleFile = "model.safetensors"
)

// MaxIndexSize bounds the shard index JSON.
const MaxIndexSize = 64 << 20

// Set is a model directory: one model.safetensors, or shards listed by
// model.safetensors.index.json.
type Set struct {
	dir      string
	files    []*File
	owner    map[string]*File
	names    []string
	metadata map[string]string
}

var _ format.TensorSource = (*Set)(nil)

// OpenModel opens the safetensors weights of a Hugging Face model directory.
// With an index, every tensor of the weight_map must be found in its shard.
func OpenModel(dir string) (*Set, error) {
	idxPath := filepath.Join(dir, IndexFile)
	st, err := os.Stat(idxPath)
	if err == nil {
		return openIndexed(dir, idxPath, st.Size())
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, newErr(idxPath, "", -1, ErrFormat, err, "cannot stat index")
	}
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err != nil {
		return nil, newErr(dir, "", -1, ErrNotFound, err, "no %s or %s in the model directory", SingleFile, IndexFile)
	}
	f, err := Open(single)
	if err != nil {
		return nil, err
	}
	s := &Set{dir: dir, files: []*File{f}, owner: map[string]*File{}, names: f.Names(), metadata: f.Metadata()}
	for _, n := range s.names {
		s.owner[n] = f
	}
	return s, nil
}

func openIndexed(dir, idxPath string, size int64) (*Set, error) {
	if size > MaxIndexSize {
		return nil, newErr(idxPath, "", 0, ErrFormat, nil, "index is %d bytes, over the %d limit", size, MaxIndexSize)
	}
	data, err := os.ReadFile(idxPath)
	if err != nil {
		return nil, newErr(idxPath, "", -1, ErrFormat, err, "cannot read index")
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, newErr(idxPath, "", 0, ErrFormat, err, "invalid index JSON")
	}
	if len(idx.WeightMap) == 0 {
		return nil, newErr(idxPath, "", 0, ErrFormat, nil, "index has an empty or missing weight_map")
	}
	s := &Set{dir: dir, owner: map[string]*File{}, metadata: map[string]string{}}
	byShard := map[string]*File{}
	shards := make([]string, 0)
	for _, shard := range idx.WeightMap {
		if _, ok := byShard[shard]; !ok {
			byShard[shard] = nil
			shards = append(shards, shard)
		}
	}
	sort.Strings(shards)
	fail := func(err error) (*Set, error) {
		s.Close()
		return nil, err
	}
	for _, shard := range shards {
		if !filepath.IsLocal(shard) {
			return fail(newErr(idxPath, "", -1, ErrFormat, nil, "shard name %q escapes the model directory", shard))
		}
		p := filepath.Join(dir, shard)
		if _, err := os.Stat(p); err != nil {
			return fail(newErr(idxPath, "", -1, ErrNotFound, err, "shard %q referenced by the index is missing", shard))
		}
		f, err := Open(p)
		if err != nil {
			return fail(err)
		}
		byShard[shard] = f
		s.files = append(s.files, f)
		for k, v := range f.metadata {
			if _, ok := s.metadata[k]; !ok {
				s.metadata[k] = v
			}
		}
	}
	for name, shard := range idx.WeightMap {
		f := byShard[shard]
		if _, ok := f.infos[name]; !ok {
			return fail(newErr(f.path, name, -1, ErrNotFound, nil, "tensor listed in %s is absent from shard %q", IndexFile, shard))
		}
		s.owner[name] = f
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s, nil
}

// Dir is the model directory.
func (s *Set) Dir() string { return s.dir }

// Names lists every tensor, sorted.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Shape returns a tensor's dimensions.
func (s *Set) Shape(name string) ([]int, bool) {
	f, ok := s.owner[name]
	if !ok {
		return nil, false
	}
	return f.Shape(name)
}

// DType returns a tensor's element type.
func (s *Set) DType(name string) (DType, bool) {
	f, ok := s.owner[name]
	if !ok {
		return "", false
	}
	return f.DType(name)
}

// Metadata merges the shards' __metadata__ (the first shard, by name, wins).
func (s *Set) Metadata() map[string]string {
	m := make(map[string]string, len(s.metadata))
	for k, v := range s.metadata {
		m[k] = v
	}
	return m
}

// File returns the shard holding a tensor.
func (s *Set) File(name string) (*File, bool) {
	f, ok := s.owner[name]
	return f, ok
}

// Float32 reads one tensor as float32.
func (s *Set) Float32(name string) ([]float32, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, newErr(s.dir, name, -1, ErrNotFound, nil, "no such tensor")
	}
	return f.Float32(name)
}

// Int64s reads an integer tensor widened to int64.
func (s *Set) Int64s(name string) ([]int64, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, newErr(s.dir, name, -1, ErrNotFound, nil, "no such tensor")
	}
	return f.Int64s(name)
}

// Close closes every shard.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.files {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.files = nil
	return errors.Join(errs...)
}
