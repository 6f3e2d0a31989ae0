package api

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBadJSONStringFindsNULAndLoneSurrogatesWhereTheyAre(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body     string
		location string
		problem  stringProblem
	}{
		{`{"a":"x"}`, "", stringOK},
		{`{"a":"\\u0000"}`, "", stringOK},      // an escaped backslash, then text
		{`{"a":"\ud83d\ude00"}`, "", stringOK}, // a surrogate pair is one character
		{`{"a":"\u00e9\u0041"}`, "", stringOK}, // other escapes
		{`{"a":"\u0000"}`, "body.a", stringNUL},
		{`{"a":"\\\u0000"}`, "body.a", stringNUL}, // a backslash, then NUL
		{`{"a":{"b":[1,"x","\u0000"]}}`, "body.a.b[2]", stringNUL},
		{`{"a":[{"b":1},{"c":"\u0000"}]}`, "body.a[1].c", stringNUL},
		{`{"a":1,"k\u0000":2}`, "body", stringNUL}, // a key: its object
		{`["\u0000"]`, "body[0]", stringNUL},
		{`{"a":"\ud800"}`, "body.a", stringSurrogate},
		{`{"a":"\ud800x"}`, "body.a", stringSurrogate},
		{`{"a":"\udc00"}`, "body.a", stringSurrogate},
		{`{"a":"\ud800\u0041"}`, "body.a", stringSurrogate},
		{`{"a":"\u0000"`, "", stringOK}, // not JSON: the handler says so
		{`{"a" "\u0000"}`, "", stringOK},
	} {
		loc, p := badJSONString([]byte(c.body))
		require.Equal(t, c.problem, p, c.body)
		require.Equal(t, c.location, loc, c.body)
	}
}
