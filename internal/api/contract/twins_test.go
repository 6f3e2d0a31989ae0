package contract_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api/contract"
)

// leaf is one JSON member of a struct, embedded structs flattened.
type leaf struct {
	Go, JSON string
	Type     reflect.Type
}

func leaves(t reflect.Type) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("json") == "" {
			out = append(out, leaves(f.Type)...)
			continue
		}
		out = append(out, leaf{f.Name, f.Tag.Get("json"), f.Type})
	}
	return out
}

func TestEveryTwinHasItsDomainTypesFieldsExactly(t *testing.T) {
	seen := map[reflect.Type]bool{}
	for _, tw := range contract.Twins() {
		require.False(t, seen[tw.Domain], "%s is twinned twice", tw.Domain)
		seen[tw.Domain] = true
		require.Equal(t, tw.Domain.Name(), tw.Schema.Name(), "a twin has its domain type's name: the schema is named after it")
		require.Equal(t, leaves(tw.Domain), leaves(tw.Schema), "%s and its twin differ: add the field to both", tw.Domain)
	}
}

// TestDomainTypesCarryOnlyJSONTags keeps the schema tags here: a limit or
// description added to a domain type would be ignored by the OpenAPI
// document (its twin's tags win) and must go on the twin instead.
func TestDomainTypesCarryOnlyJSONTags(t *testing.T) {
	for _, pkg := range []string{"fields", "records", "webhooks", "automations"} {
		files, err := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
			require.NoError(t, err)
			ast.Inspect(f, func(n ast.Node) bool {
				fl, ok := n.(*ast.Field)
				if !ok || fl.Tag == nil {
					return true
				}
				tag, err := strconv.Unquote(fl.Tag.Value)
				require.NoError(t, err)
				json, ok := reflect.StructTag(tag).Lookup("json")
				require.True(t, ok && tag == `json:"`+json+`"`, "%s: tag %s: a domain type takes json tags only; schema tags go on its twin in package contract", name, tag)
				return true
			})
		}
	}
}
