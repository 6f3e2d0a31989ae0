package events_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
)

// TestEncodeKeepsTheDigitsOfIntegersADoubleCannotHold: numbers decoded
// with UseNumber are written as JSON.stringify prints them, except
// integers beyond a double's exact range, which keep every digit.
func TestEncodeKeepsTheDigitsOfIntegersADoubleCannotHold(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{
		`12345678901234567890`:                 `12345678901234567890`,
		`-9007199254740993`:                    `-9007199254740993`,
		`9007199254740992`:                     `9007199254740992`,
		`123456789012345678901234567890123456`: `123456789012345678901234567890123456`,
		`1e400`:                                `null`,
		`1.0`:                                  `1`,
		`1E3`:                                  `1000`,
		`-0`:                                   `0`,
		`0.1`:                                  `0.1`,
		`1e-7`:                                 `1e-7`,
		`{"n":12345678901234567890,"f":2.50}`:  `{"f":2.5,"n":12345678901234567890}`,
	} {
		dec := json.NewDecoder(bytes.NewReader([]byte(in)))
		dec.UseNumber()
		var v any
		require.NoError(t, dec.Decode(&v))
		out, err := events.Encode(v)
		require.NoError(t, err, in)
		require.Equal(t, want, string(out), in)
		raw, err := events.Encode(json.RawMessage(in))
		require.NoError(t, err, in)
		require.Equal(t, want, string(raw), "raw %s", in)
	}
}
