package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// wireTypes is every type of the package; TestWireTypesListed keeps it so.
var wireTypes = []any{
	Error{}, Health{}, Token{}, NextToken{},
	Overview{}, ModelSummary{}, Dims{}, Limits{}, HookRow{}, AtlasSummary{}, Settings{}, HookSpec{},
	NeuronResponse{}, UnitReport{}, Example{}, Band{}, HistBin{}, Explanation{}, LensItem{},
	SearchResponse{}, SearchHit{},
	RunRequest{}, RunResponse{}, UnitTrace{}, TopUnit{}, Attention{},
	InterveneRequest{}, InterveneResponse{}, TokenChange{},
	PatchRequest{}, PatchResponse{}, PatchFileResponse{}, Grid{},
	AttributeRequest{}, AttributeResponse{}, AttrScore{}, LensRow{},
	AttrGraphRequest{}, AttrGraph{}, AttrGraphLogit{}, AttrGraphNode{}, AttrGraphEdge{}, AttrGraphStats{}, AttrGraphKeys{}, AttrGraphKey{},
	CacheRequest{}, CacheGrad{}, CacheResponse{}, CacheSequence{}, Tensor{},
	CompareRequest{}, CompareMatrix{}, CompareResponse{}, CompareCeiling{},
	ConceptCorpus{}, ConceptsRequest{}, ConceptsResponse{},
	ImageUnit{}, ImageExemplar{},
	ImageRun{}, GradCAMRequest{}, GradCAMResponse{},
}

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestWireTypesListed fails when a type is added to the package but not to
// wireTypes, so that the key checks below cover it.
func TestWireTypesListed(t *testing.T) {
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
					for _, s := range g.Specs {
						declared = append(declared, s.(*ast.TypeSpec).Name.Name)
					}
				}
			}
		}
	}
	listed := map[string]bool{}
	for _, v := range wireTypes {
		listed[reflect.TypeOf(v).Name()] = true
	}
	sort.Strings(declared)
	for _, name := range declared {
		if !listed[name] {
			t.Errorf("type %s is not in wireTypes", name)
		}
	}
	if len(declared) != len(listed) {
		t.Errorf("%d types declared, %d listed", len(declared), len(listed))
	}
}

// TestTagsSnakeCase walks every struct field, recursively, and checks that
// it has an explicit snake_case JSON name (an untagged field would be sent
// under its Go name).
func TestTagsSnakeCase(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			walk(typ.Elem(), path)
			return
		case reflect.Struct:
		default:
			return
		}
		if seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if !snake.MatchString(name) {
				t.Errorf("%s.%s: JSON name %q is not snake_case", path, f.Name, name)
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	for _, v := range wireTypes {
		walk(reflect.TypeOf(v), reflect.TypeOf(v).Name())
	}
}

// TestMarshalSnakeCase marshals every type with each pointer, slice and
// nested struct filled, and checks every key of the JSON that comes out.
func TestMarshalSnakeCase(t *testing.T) {
	for _, v := range wireTypes {
		name := reflect.TypeOf(v).Name()
		p := reflect.New(reflect.TypeOf(v))
		fill(p.Elem(), 0)
		b, err := json.Marshal(p.Interface())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := doc.(map[string]any); !ok {
			t.Fatalf("%s marshals to %s, not an object", name, b)
		}
		n := checkKeys(t, name, doc)
		if n < reflect.TypeOf(v).NumField() {
			t.Errorf("%s: %d keys in %s, fewer than its %d fields", name, n, b, reflect.TypeOf(v).NumField())
		}
	}
}

// fill gives every pointer a value and every slice one element, so that
// nested structs appear in the JSON, and every map one entry under a
// snake_case key (map keys are data, such as query parameters).
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	if v.Type() == reflect.TypeOf(json.RawMessage{}) {
		v.SetBytes([]byte(`{}`))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		v.SetMapIndex(reflect.ValueOf("key").Convert(v.Type().Key()), e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.String:
		v.SetString("x") // so that omitempty strings appear
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Bool:
		v.SetBool(true)
	}
}

// checkKeys checks the keys of every object in doc and counts those of the
// top level.
func checkKeys(t *testing.T, where string, doc any) int {
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			if !snake.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", where, k)
			}
			checkKeys(t, where+"."+k, v)
		}
		return len(d)
	case []any:
		for _, v := range d {
			checkKeys(t, where+"[]", v)
		}
	}
	return 0
}
