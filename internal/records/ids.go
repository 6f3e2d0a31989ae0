package records

import (
	"regexp"

	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/scope"
)

// IDPattern is the one pattern of the ids a host names things by: tenant
// ids, entity ids, the ids of published events and the ids the API hands
// out (fg_…, wh_…, au_…). It keeps ids printable, single-line, free of
// "/" and of NUL (which PostgreSQL cannot store), and short enough for a
// URL path segment. Struct tags repeat it literally (Go tags cannot name a
// constant); a test checks every path parameter of the OpenAPI document
// against this one.
const IDPattern = `^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`

var idPattern = regexp.MustCompile(IDPattern)

// ValidID reports whether s matches IDPattern.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// CheckID refuses an id that does not match IDPattern with a validation
// error at location; the empty id is left to the caller (often optional).
func CheckID(location, id string) error {
	if id == "" || ValidID(id) {
		return nil
	}
	return problem.Invalid(location, "must match "+IDPattern+": 1-128 letters, digits and . _ : @ -, starting with a letter or digit", id)
}

// ClaimTenant returns the owner of a row being created from a body's
// tenantId (nil when absent), as scope.Claim decides it. It refuses an
// owner that does not match IDPattern, the pattern of the tenant routes'
// {tenantId}: a tenant named in a body must be reachable through them.
func ClaimTenant(sc scope.Scope, requested *string) (*string, error) {
	owner, err := sc.Claim(requested)
	if err != nil {
		return nil, err
	}
	if owner != nil {
		if err := CheckID("body.tenantId", *owner); err != nil {
			return nil, err
		}
	}
	return owner, nil
}
