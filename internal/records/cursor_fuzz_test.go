package records_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/records"
)

// FuzzCursor proves the cursors of the event, delivery and run logs: a
// cursor the server gave out reads back as the position it was made of,
// and any other string a client sends is either refused with an error or
// read as a valid position (above zero), never a panic.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "czE", "czU", records.EncodeCursor(1), records.EncodeCursor(1 << 62), "s1", "czA", "cy0x", "====", "czE=", "\x00", "czk5OTk5OTk5OTk5OTk5OTk5OTk5"} {
		f.Add(s, int64(len(s)+1))
	}
	f.Fuzz(func(t *testing.T, cursor string, seq int64) {
		if seq > 0 {
			got, err := records.DecodeCursor(records.EncodeCursor(seq))
			require.NoError(t, err)
			require.Equal(t, seq, got, "a cursor reads back as the position it was made of")
		}
		n, err := records.DecodeCursor(cursor)
		switch {
		case err != nil:
			require.Zero(t, n)
		case cursor == "":
			require.Zero(t, n, "the empty cursor is the start")
		default:
			require.Positive(t, n, "an accepted cursor %q names a position", cursor)
		}
	})
}
