// Package web holds glia serve's pages: plain HTML, CSS and JavaScript
// embedded in the binary (no build step). Every page is the same shell,
// index.html; app.js routes on the path and draws the page from the JSON API.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// FS is the embedded static tree (index.html, app.css, app.js).
func FS() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	return sub
}

// Pages are the paths the shell answers (a page may add more segments, as
// /neuron/HOOK/UNIT).
var Pages = []string{"/", "/neuron/", "/search", "/explore", "/intervene", "/patch", "/attribute", "/compare", "/attrgraph", "/concepts"}

// Handler serves /static/ assets and the shell for every page path.
func Handler() http.Handler {
	static := http.StripPrefix("/static/", http.FileServerFS(FS()))
	index, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/static/") {
			w.Header().Set("Cache-Control", "public, max-age=300")
			static.ServeHTTP(w, r)
			return
		}
		if !isPage(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(index)
	})
}

func isPage(p string) bool {
	for _, pg := range Pages {
		if p == pg || (strings.HasSuffix(pg, "/") && pg != "/" && strings.HasPrefix(p, pg)) {
			return true
		}
	}
	return false
}
