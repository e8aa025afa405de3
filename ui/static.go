package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// static holds the stylesheet and scripts, and noVNC under vendor/novnc once
// ui/assets/fetch.sh has fetched it (the directory is otherwise empty but for
// its .gitignore, so a fresh clone builds).
//
//go:embed all:static
var static embed.FS

const novncEntry = "static/vendor/novnc/core/rfb.js"

func novncPresent() bool {
	_, err := fs.Stat(static, novncEntry)
	return err == nil
}

// staticHandler serves /static/ without directory listings.
func staticHandler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || strings.Contains(r.URL.Path, "/.") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
