package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeAutomationsAreAccepted keeps the README's example automations
// true: each one pasted into a server with the customer group it assumes,
// after the README's own variable PUTs (a save refuses a secret that does
// not exist), is accepted as it stands.
func TestReadmeAutomationsAreAccepted(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile(`(?s)<<'JSON'\n(.*?)\nJSON\n`).FindAllSubmatch(readme, -1)
	require.Len(t, blocks, 3, "the README shows three automations")
	puts := regexp.MustCompile(`-X PUT \$FF(/api/variables/\w+) \\\n\s+-d '(\{.*?\})'`).FindAllSubmatch(readme, -1)
	require.NotEmpty(t, puts, "the README sets the secrets its automations name")
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		for _, p := range puts {
			var body map[string]any
			require.NoError(t, json.Unmarshal(p[2], &body), "%s", p[2])
			b.must(t, http.StatusOK, http.MethodPut, string(p[1]), body, nil)
		}
		for _, blk := range blocks {
			var body map[string]any
			require.NoError(t, json.Unmarshal(blk[1], &body), "%s", blk[1])
			res := b.call(t, adminKey, http.MethodPost, "/api/automations", body)
			require.Equal(t, http.StatusCreated, res.status, "%s\n%s", blk[1], res.body)
		}
	})
}
