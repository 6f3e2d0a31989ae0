package api

import (
	"net/http"
	"strconv"
	"strings"
)

// cors lets the browser pages of configured origins call the API with an
// API key in a header. It answers preflights itself and marks the
// responses of allowed origins. Credentials are never allowed: the
// dashboard's session cookie is for its own origin only, so a page
// elsewhere cannot ride on it.
type cors struct {
	any     bool            // "*" was configured
	origins map[string]bool // lower case
}

// corsHeaders are the request headers a cross-origin caller may send.
const corsHeaders = "Authorization, Content-Type, Idempotency-Key, If-Match, X-API-Key"

// corsExposed are the response headers its script may read.
const corsExposed = "ETag, Idempotent-Replayed, Retry-After, WWW-Authenticate"

func newCORS(origins []string) *cors {
	c := &cors{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			c.any = true
		}
		c.origins[strings.ToLower(o)] = true
	}
	return c
}

func (c *cors) allowed(origin string) bool {
	return origin != "" && (c.any || c.origins[strings.ToLower(origin)])
}

func (c *cors) wrap(next http.Handler) http.Handler {
	if len(c.origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !c.allowed(origin) {
			if preflight {
				writeProblem(w, http.StatusForbidden, "cross-origin requests from this origin are not allowed")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if !preflight {
			h.Set("Access-Control-Expose-Headers", corsExposed)
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", strconv.Itoa(600))
		w.WriteHeader(http.StatusNoContent)
	})
}
