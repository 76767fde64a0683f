// Package web holds the monitor page that the service serves at /: plain
// HTML, CSS and ES modules, embedded in the binary, with no build step. The
// page talks to the REST API through reportd.js, the typed client the app
// can use as well (reportd.d.ts describes it).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Index is the name of the page itself among Files.
const Index = "index.html"

// Files returns the page (Index) and its assets, by path.
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}
