package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Member is one key of an Object.
type Member struct {
	Key   string
	Value any
}

// Object is a JSON object whose members keep the order they were given in.
type Object []Member

// Encode returns the bytes JavaScript's JSON.stringify prints for the value
// after JSON.parse, so a receiver that re-serializes a parsed body before
// checking its signature still verifies. That means: compact; no HTML
// escaping; U+2028/U+2029 literal; numbers in JavaScript's shortest form
// (1e+21, 1e-7, -0 as 0); and integer-like keys ("0", "42") first in
// ascending order, because JavaScript objects enumerate them that way. Map
// keys otherwise sort by string so the output is deterministic.
func Encode(v any) ([]byte, error) {
	return appendValue(make([]byte, 0, 256), v)
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case string:
		return appendString(b, x), nil
	case float64:
		return appendNumber(b, x)
	case float32:
		return appendNumber(b, float64(x))
	case int:
		return appendNumber(b, float64(x))
	case int64:
		return appendNumber(b, float64(x))
	case json.Number:
		return appendJSONNumber(b, x)
	case json.RawMessage:
		if string(x) == "null" {
			return append(b, "null"...), nil
		}
		dec := json.NewDecoder(bytes.NewReader(x))
		dec.UseNumber()
		var decoded any
		if err := dec.Decode(&decoded); err != nil {
			return nil, fmt.Errorf("encode raw JSON: %w", err)
		}
		return appendValue(b, decoded)
	case Object:
		return appendObject(b, x)
	case map[string]any:
		obj := make(Object, 0, len(x))
		for k, v := range x {
			obj = append(obj, Member{k, v})
		}
		sort.Slice(obj, func(i, j int) bool { return obj[i].Key < obj[j].Key })
		return appendObject(b, obj)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []string:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e)
		}
		return append(b, ']'), nil
	default:
		// Anything else goes through encoding/json once and back through
		// the canonical path, so its output obeys the same rules.
		raw, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("encode %T: %w", v, err)
		}
		return appendValue(b, json.RawMessage(raw))
	}
}

func appendObject(b []byte, obj Object) ([]byte, error) {
	// JavaScript lists array-index keys first, ascending; stable-partition
	// them to the front and keep the given order for the rest.
	ordered := obj
	if hasIndexKey(obj) {
		ordered = make(Object, 0, len(obj))
		for _, m := range obj {
			if isArrayIndex(m.Key) {
				ordered = append(ordered, m)
			}
		}
		sort.SliceStable(ordered, func(i, j int) bool {
			a, _ := strconv.ParseUint(ordered[i].Key, 10, 32)
			c, _ := strconv.ParseUint(ordered[j].Key, 10, 32)
			return a < c
		})
		for _, m := range obj {
			if !isArrayIndex(m.Key) {
				ordered = append(ordered, m)
			}
		}
	}
	b = append(b, '{')
	for i, m := range ordered {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.Key)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, m.Value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func hasIndexKey(obj Object) bool {
	for _, m := range obj {
		if isArrayIndex(m.Key) {
			return true
		}
	}
	return false
}

// isArrayIndex reports whether JavaScript treats k as an array index:
// the canonical decimal form of an integer in [0, 2^32-2].
func isArrayIndex(k string) bool {
	if k == "" || len(k) > 10 || (len(k) > 1 && k[0] == '0') {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '0' || k[i] > '9' {
			return false
		}
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return err == nil && n <= math.MaxUint32-1
}

// Decode decodes JSON text with its numbers as json.Number, so that Encode
// writes them again as they were: an integer beyond 2^53 keeps its digits.
func Decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode JSON: data after the value")
	}
	return v, nil
}

// appendJSONNumber writes a number as it was written: as JSON.stringify
// prints its double, except an integer that a double cannot hold exactly
// (beyond 2^53, such as 12345678901234567890), whose digits are kept, as a
// receiver parsing with a big-number JSON library reads them.
func appendJSONNumber(b []byte, n json.Number) ([]byte, error) {
	s := n.String()
	f, err := strconv.ParseFloat(s, 64)
	if isInteger(s) && (err != nil || !holdsExactly(f, s)) {
		return append(b, s...), nil
	}
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("encode number %q: %w", n, err)
	}
	return appendNumber(b, f) // out of range: ±Inf, which JSON.stringify prints as null
}

// holdsExactly reports whether the double f is the integer written s.
func holdsExactly(f float64, s string) bool {
	want, ok := new(big.Int).SetString(s, 10)
	if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
		return false
	}
	got, acc := new(big.Float).SetFloat64(f).Int(nil)
	return acc == big.Exact && got.Cmp(want) == 0
}

// isInteger reports whether s is JSON integer text: an optional minus and
// digits, no fraction or exponent.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func appendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...), nil
	}
	if f == 0 {
		return append(b, '0'), nil // also -0, as JavaScript prints it
	}
	abs := math.Abs(f)
	if abs < 1e21 && abs >= 1e-6 {
		return strconv.AppendFloat(b, f, 'f', -1, 64), nil
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	// Go writes e-07 and e+21; JavaScript writes e-7 and e+21.
	if i := bytes.IndexByte([]byte(s), 'e'); i >= 0 && i+2 < len(s) && s[i+2] == '0' {
		s = s[:i+2] + s[i+3:]
	}
	return append(b, s...), nil
}

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// RawOrNull is b, or the JSON null when b is empty: a value the event does
// not carry (no previous value, a field never set) reads as null.
func RawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}
