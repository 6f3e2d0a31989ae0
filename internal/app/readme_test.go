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
// true: each one pasted into a server with the customer group it assumes
// is accepted as it stands.
func TestReadmeAutomationsAreAccepted(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile(`(?s)<<'JSON'\n(.*?)\nJSON\n`).FindAllSubmatch(readme, -1)
	require.Len(t, blocks, 3, "the README shows three automations")
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		// The secret variables the examples name, set as the README sets
		// them just before each example.
		for _, v := range regexp.MustCompile(`\$FF/api/variables/([a-z_]+) \\\n\s+-d '([^']*)'`).FindAllSubmatch(readme, -1) {
			var body map[string]any
			require.NoError(t, json.Unmarshal(v[2], &body), "%s", v[2])
			b.must(t, http.StatusOK, http.MethodPut, "/api/variables/"+string(v[1]), body, nil)
		}
		for _, blk := range blocks {
			var body map[string]any
			require.NoError(t, json.Unmarshal(blk[1], &body), "%s", blk[1])
			res := b.call(t, adminKey, http.MethodPost, "/api/automations", body)
			require.Equal(t, http.StatusCreated, res.status, "%s\n%s", blk[1], res.body)
		}
	})
}
