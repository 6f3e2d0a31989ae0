// Package webui serves fieldflow's web application: the single-page app
// built from web/ into dist/ and embedded here, so that the binary serves it
// with no node and no network. It puts the API beside it: /api/…, /healthz,
// /readyz and /metrics go to the API handler, everything else is the app,
// with strict security headers on every response of its own.
package webui

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// dist is the built bundle (npm run build in web/ writes it). It is
// committed, so `go build` needs no node.
//
//go:embed all:dist
var dist embed.FS

// Config configures the handler.
type Config struct {
	// API serves /api/…, /healthz, /readyz and /metrics. Nil answers those
	// paths 404 (never with the app's index.html).
	API http.Handler
	// FrameAncestors lists the origins allowed to frame the tenant portal
	// (/portal, embedded in a vendor's own app). Empty means none may:
	// frame-ancestors 'none'. The dashboard may never be framed.
	FrameAncestors []string
}

// Handler serves the app and hands the API's paths to the API.
type Handler struct {
	api    http.Handler
	files  fs.FS
	index  []byte
	csp    string // the dashboard's: frame-ancestors 'none'
	portal string // the portal's: frame-ancestors from the config
	static http.Handler
}

// New returns the handler over the embedded bundle.
func New(cfg Config) *Handler {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded: only a broken build gets here
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic("webui: dist/index.html is missing: run npm run build in web/")
	}
	return &Handler{api: cfg.API, files: files, index: index, csp: csp(nil), portal: csp(cfg.FrameAncestors),
		static: http.FileServerFS(files)}
}

// csp is the Content-Security-Policy of every UI response. The app needs
// nothing but its own origin: no inline script or style, no eval, no
// external font, image or connection.
func csp(frameAncestors []string) string {
	fa := "'none'"
	if len(frameAncestors) > 0 {
		fa = strings.Join(frameAncestors, " ")
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors " + fa
}

// isAPIPath reports whether a path belongs to the API, which must answer
// it, whatever it says: a typo in an API path is a JSON 404, never the
// app's HTML.
func isAPIPath(p string) bool {
	switch p {
	case "/api", "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(p, "/api/")
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAPIPath(r.URL.Path) {
		if h.api == nil {
			http.NotFound(w, r)
			return
		}
		h.api.ServeHTTP(w, r)
		return
	}
	hdr := w.Header()
	if r.URL.Path == "/portal" || strings.HasPrefix(r.URL.Path, "/portal/") {
		hdr.Set("Content-Security-Policy", h.portal)
	} else {
		hdr.Set("Content-Security-Policy", h.csp)
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name != "" && name != "index.html" {
		if st, err := fs.Stat(h.files, name); err == nil && !st.IsDir() {
			// Vite names assets by their content hash: they never change.
			if strings.HasPrefix(name, "assets/") {
				hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			h.static.ServeHTTP(w, r)
			return
		}
		// A missing asset is a 404, not the app: a stale page asking for
		// an old bundle should fail visibly.
		if strings.HasPrefix(name, "assets/") {
			http.NotFound(w, r)
			return
		}
	}
	// Every other path is a client-side route of the app.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(h.index))
}
