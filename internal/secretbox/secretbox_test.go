package secretbox_test

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/secretbox"
)

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	box, err := secretbox.New(key)
	require.NoError(t, err)
	return box
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()

	box := newBox(t)
	for _, plain := range []string{
		"x",
		"whsec_" + strings.Repeat("A", 43) + "=",
		"ünïcødé 🔑",
		strings.Repeat("long secret ", 1000),
	} {
		sealed := box.Seal(plain)
		require.True(t, strings.HasPrefix(sealed, "v1:"), "sealed %q", sealed)
		if len(plain) >= 8 { // a shorter value turns up in random base64 by chance
			require.NotContains(t, sealed, plain, "the sealed form does not reveal the value")
		}

		got, err := box.Open(sealed)
		require.NoError(t, err)
		require.Equal(t, plain, got)
	}
}

func TestSealEmptyStringIsEmpty(t *testing.T) {
	t.Parallel()

	box := newBox(t)
	require.Empty(t, box.Seal(""), "an unset secret stays unset in the database")

	got, err := box.Open("")
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestOpenUnderAnotherKeyFailsWithErrOpen(t *testing.T) {
	t.Parallel()

	sealed := newBox(t).Seal("secret")

	got, err := newBox(t).Open(sealed)
	require.ErrorIs(t, err, secretbox.ErrOpen)
	require.Empty(t, got)
}

func TestOpenTamperedValueFailsWithErrOpen(t *testing.T) {
	t.Parallel()

	box := newBox(t)
	sealed := box.Seal("secret")
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	require.NoError(t, err)

	// Flipping one bit anywhere (nonce, ciphertext or tag) is detected.
	for i := range raw {
		flipped := append([]byte(nil), raw...)
		flipped[i] ^= 0x01
		_, err := box.Open("v1:" + base64.RawStdEncoding.EncodeToString(flipped))
		require.ErrorIs(t, err, secretbox.ErrOpen, "bit flipped in byte %d", i)
	}

	for name, bad := range map[string]string{
		"truncated":        sealed[:len(sealed)-4],
		"shorter than IV":  "v1:" + base64.RawStdEncoding.EncodeToString(raw[:8]),
		"unknown version":  "v2:" + strings.TrimPrefix(sealed, "v1:"),
		"no version":       strings.TrimPrefix(sealed, "v1:"),
		"not base64":       "v1:%%%",
		"plain text":       "secret",
		"prefix only":      "v1:",
		"extra data after": sealed + "AAAA",
	} {
		_, err := box.Open(bad)
		require.ErrorIs(t, err, secretbox.ErrOpen, name)
	}
}

func TestSealTwiceGivesDifferentValues(t *testing.T) {
	t.Parallel()

	box := newBox(t)
	a, b := box.Seal("secret"), box.Seal("secret")
	require.NotEqual(t, a, b, "a random nonce per seal: equal secrets are not visible as equal rows")

	for _, sealed := range []string{a, b} {
		got, err := box.Open(sealed)
		require.NoError(t, err)
		require.Equal(t, "secret", got)
	}
}

func TestNewRequiresA32ByteKey(t *testing.T) {
	t.Parallel()

	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		box, err := secretbox.New(make([]byte, n))
		require.Error(t, err, "a %d-byte key is refused: AES-256 only, though AES accepts 16 and 24", n)
		require.Nil(t, box)
		require.Contains(t, err.Error(), "32 bytes")
	}

	box, err := secretbox.New(make([]byte, 32))
	require.NoError(t, err)
	require.NotNil(t, box)
}
