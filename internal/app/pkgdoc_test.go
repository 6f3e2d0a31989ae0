package app_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEveryPackageHasExactlyOneDocComment keeps `go doc` useful: every
// package says what it holds, in one place. A second doc comment in another
// file is silently concatenated by go/doc, so the two drift apart.
func TestEveryPackageHasExactlyOneDocComment(t *testing.T) {
	t.Parallel()

	g := loadPackages(t)
	for _, p := range g.ours {
		require.NotEmpty(t, p.Doc, "%s has no package doc comment: say what the package holds", p.ImportPath)

		want := "Package " + p.Name + " "
		if p.Name == "main" {
			want = "Command " + filepath.Base(p.ImportPath) + " "
		}
		require.True(t, strings.HasPrefix(p.Doc, want),
			"%s: the doc comment starts %q, as go doc expects, not %q", p.ImportPath, want, p.Doc)

		var withDoc []string
		fset := token.NewFileSet()
		for _, name := range append(append(append([]string(nil), p.GoFiles...), p.CgoFiles...), p.IgnoredGoFiles...) {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
			require.NoError(t, err)
			// An ignored file of another package (a //go:build ignore
			// generator, say) documents that program, not this package.
			if f.Name.Name == p.Name && f.Doc != nil {
				withDoc = append(withDoc, name)
			}
		}
		require.Len(t, withDoc, 1, "%s: exactly one non-test file carries the package doc comment, found %v", p.ImportPath, withDoc)
	}
}
