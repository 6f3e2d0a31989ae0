package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// checkInput refuses, before any handler runs, input that no handler could
// store faithfully on both databases: a body that cannot be read (a
// malformed chunked encoding), invalid UTF-8 in the body, the path or the
// query, control characters in the path or the query, and U+0000 or an
// unpaired surrogate in any JSON string of the body. SQLite stored such
// text (or huma replaced it with U+FFFD) while PostgreSQL failed with a
// 500; one rule for both is a 4xx here.
//
// The rule: unreadable or ill-formed text is 400; a well-formed JSON string
// holding U+0000 is 422 at the string's location (body.data.note).
//
// It buffers the body (at most maxBody+1 bytes, so huma still sees a body
// that is too large and answers 413) for the handlers after it.
func checkInput(maxBody int64, mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanText(r.URL.Path) {
			writeProblemAt(w, http.StatusBadRequest, "the path must be valid UTF-8 without control characters", badSegment(mux, r))
			return
		}
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeProblemAt(w, http.StatusBadRequest, "the query string is malformed", "query")
			return
		}
		for k, vs := range query {
			ok := cleanText(k)
			for _, v := range vs {
				ok = ok && cleanText(v)
			}
			if !ok {
				loc := "query"
				if utf8.ValidString(k) {
					loc = "query." + k
				}
				writeProblemAt(w, http.StatusBadRequest, "query parameters must be valid UTF-8 without control characters", loc)
				return
			}
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeProblemAt(w, http.StatusRequestEntityTooLarge, "the request body is too large", "body")
				return
			}
			writeProblemAt(w, http.StatusBadRequest, "cannot read the request body: "+err.Error(), "body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if int64(len(body)) > maxBody {
			// Cut at the cap, the tail may split a character; huma answers
			// 413 for it.
			next.ServeHTTP(w, r)
			return
		}
		if !utf8.Valid(body) {
			writeProblemAt(w, http.StatusBadRequest, "the request body is not valid UTF-8", "body")
			return
		}
		if loc, problem := badJSONString(body); problem != 0 {
			if problem == stringNUL {
				writeProblemAt(w, http.StatusUnprocessableEntity, "validation failed", loc, "must not contain U+0000 (NUL)")
				return
			}
			writeProblemAt(w, http.StatusBadRequest, "the request body is not valid Unicode", loc, "holds an unpaired UTF-16 surrogate escape")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// badSegment names the path parameter holding the bad text
// ("path.entityId"), or the whole path when no route's wildcard does.
func badSegment(mux *http.ServeMux, r *http.Request) string {
	_, pattern := mux.Handler(r)
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		pattern = pattern[i:]
	}
	want := strings.Split(pattern, "/")
	got := strings.Split(r.URL.EscapedPath(), "/")
	if len(want) != len(got) {
		return "path"
	}
	for i, seg := range got {
		text, err := url.PathUnescape(seg)
		if err == nil && cleanText(text) {
			continue
		}
		if name, ok := strings.CutPrefix(want[i], "{"); ok {
			return "path." + strings.TrimSuffix(strings.TrimSuffix(name, "}"), "...")
		}
		return "path"
	}
	return "path"
}

// cleanText reports whether s is valid UTF-8 without C0 control characters
// or DEL: what may sit in an id, a name or a query value.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// A stringProblem is what badJSONString found.
type stringProblem int

const (
	stringOK stringProblem = iota
	stringNUL
	stringSurrogate
)

// badJSONString finds the first string of a JSON document (a key or a
// value) whose escapes spell U+0000 or an unpaired surrogate, and returns
// its location in the contract's form (body.data.items[2]). A document
// that is not JSON is left to the handler, which reports its syntax.
func badJSONString(body []byte) (string, stringProblem) {
	// Both need a \u escape: raw NUL bytes are not JSON, and invalid
	// UTF-8 has been refused already.
	if !bytes.Contains(body, []byte(`\u`)) || !json.Valid(body) {
		return "", stringOK
	}
	type frame struct {
		object  bool
		wantKey bool
		key     string
		index   int
	}
	var stack []frame
	location := func(extra string) string {
		loc := "body"
		for _, f := range stack {
			if f.object {
				if f.wantKey {
					break
				}
				loc += "." + f.key
			} else {
				loc += "[" + strconv.Itoa(f.index) + "]"
			}
		}
		return loc + extra
	}
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", stringOK
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, frame{object: v == '{', wantKey: v == '{'})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			// Between the previous token and this one lie only
			// whitespace, ',' and ':', so the first quote opens the string.
			raw := body[start:dec.InputOffset()]
			raw = raw[bytes.IndexByte(raw, '"'):]
			isKey := len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].wantKey
			if p := scanEscapes(raw); p != stringOK {
				return location(""), p
			}
			if isKey {
				stack[len(stack)-1].key = v
				stack[len(stack)-1].wantKey = false
			} else {
				valueDone()
			}
		default:
			valueDone()
		}
	}
}

// scanEscapes reads the escapes of one raw JSON string (quotes included).
func scanEscapes(raw []byte) stringProblem {
	hex := func(i int) (rune, bool) {
		if i+4 > len(raw) {
			return 0, false
		}
		n, err := strconv.ParseUint(string(raw[i:i+4]), 16, 32)
		return rune(n), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		i++
		if raw[i] != 'u' {
			continue
		}
		c, ok := hex(i + 1)
		if !ok {
			return stringOK // not JSON; the handler says so
		}
		i += 4
		switch {
		case c == 0:
			return stringNUL
		case c >= 0xDC00 && c <= 0xDFFF:
			return stringSurrogate
		case c >= 0xD800 && c <= 0xDBFF:
			if i+2 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return stringSurrogate
			}
			low, ok := hex(i + 3)
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return stringSurrogate
			}
			i += 6
		}
	}
	return stringOK
}

// problemStatus turns the ServeMux's plain-text 404 and 405 answers into
// problem+json, keeping the 405's Allow header.
func problemStatus(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&muxErrorWriter{ResponseWriter: w}, r)
	})
}

// muxErrorWriter replaces what the ServeMux writes for a 404 or a 405.
type muxErrorWriter struct {
	http.ResponseWriter
	replaced bool
}

// Unwrap lets http.ResponseController (flushing a live stream, deadlines)
// reach the connection's writer.
func (m *muxErrorWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

func (m *muxErrorWriter) WriteHeader(status int) {
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		m.ResponseWriter.WriteHeader(status)
		return
	}
	m.replaced = true
	m.Header().Del("X-Content-Type-Options")
	detail := "no such route"
	if status == http.StatusMethodNotAllowed {
		detail = "this route does not take this method; Allow lists those it does"
	}
	writeProblem(m.ResponseWriter, status, detail)
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if m.replaced {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}

// writeProblemAt writes a problem+json error with one located detail; its
// message is msg[0] when given, else detail.
func writeProblemAt(w http.ResponseWriter, status int, detail, location string, msg ...string) {
	m := detail
	if len(msg) > 0 {
		m = msg[0]
	}
	body, _ := json.Marshal(&huma.ErrorModel{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail,
		Errors: []*huma.ErrorDetail{{Location: location, Message: m}}})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
