package scope_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/scope"
)

func ptr(s string) *string { return &s }

func TestZeroScopeAllowsNothing(t *testing.T) {
	t.Parallel()

	var sc scope.Scope
	require.False(t, sc.Allows(""))
	require.False(t, sc.Allows("t1"))
	require.False(t, sc.IsAdmin())
	_, ok := sc.TenantID()
	require.False(t, ok)
	require.ErrorIs(t, sc.Check(""), scope.ErrNone)
	require.ErrorIs(t, sc.CheckAdmin(), scope.ErrNone)
	require.ErrorIs(t, sc.CheckRead(), scope.ErrNone)
	_, err := sc.Claim(nil)
	require.ErrorIs(t, err, scope.ErrNone)
	_, err = sc.Filter("")
	require.ErrorIs(t, err, scope.ErrNone)
}

func TestTenantScope(t *testing.T) {
	t.Parallel()

	sc := scope.Tenant("t1")
	require.True(t, sc.Allows("t1"))
	require.False(t, sc.Allows("t2"))
	require.False(t, sc.Allows(""), "the vendor's own rows are not a tenant's")
	id, ok := sc.TenantID()
	require.True(t, ok)
	require.Equal(t, "t1", id)
	require.NoError(t, sc.Check("t1"))
	require.ErrorIs(t, sc.Check("t2"), scope.ErrOtherTenant)
	require.ErrorIs(t, sc.CheckAdmin(), scope.ErrAdminOnly)
	require.NoError(t, sc.CheckRead())

	owner, err := sc.Claim(nil)
	require.NoError(t, err)
	require.Equal(t, "t1", *owner)
	_, err = sc.Claim(ptr("t2"))
	require.ErrorIs(t, err, scope.ErrOtherTenant)

	f, err := sc.Filter("")
	require.NoError(t, err)
	require.Equal(t, "t1", *f)
	_, err = sc.Filter("t2")
	require.ErrorIs(t, err, scope.ErrOtherTenant)
}

func TestAdminScope(t *testing.T) {
	t.Parallel()

	sc := scope.Admin()
	require.True(t, sc.Allows(""))
	require.True(t, sc.Allows("t2"))
	require.NoError(t, sc.Check("t2"))
	require.NoError(t, sc.CheckAdmin())

	owner, err := sc.Claim(nil)
	require.NoError(t, err)
	require.Nil(t, owner, "an admin's row without a tenant is the vendor's")
	owner, err = sc.Claim(ptr("t2"))
	require.NoError(t, err)
	require.Equal(t, "t2", *owner)

	f, err := sc.Filter("")
	require.NoError(t, err)
	require.Nil(t, f, "every tenant's rows")
	f, err = sc.Filter("t2")
	require.NoError(t, err)
	require.Equal(t, "t2", *f)
}
