package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testVariables(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	newVariable := func(tenantID, name, value string, at time.Time) *store.Variable {
		return &store.Variable{TenantID: tenantID, Name: name, Value: value, CreatedAt: at, UpdatedAt: at.Add(time.Second)}
	}
	put := func(t *testing.T, s store.Store, v *store.Variable) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.VariablePut(ctx, v) })
	}
	del := func(t *testing.T, s store.Store, tenantID, name string) error {
		t.Helper()
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.VariableDelete(ctx, tenantID, name) })
	}
	names := func(vs []*store.Variable) []string {
		out := []string{}
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return out
	}

	t.Run("PutThenGetRoundTripsEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		v := newVariable("t1", "api_base", "https://api.example.com/v1?x=\"Zoë 日本\"\n", now().Add(-time.Hour))
		put(t, bundle.s, v)
		got, err := bundle.s.VariableGet(ctx, "t1", "api_base")
		require.NoError(t, err)
		require.Equal(t, v, got)

		secret := newVariable("", "TOKEN", "v1:c2VhbGVk", now())
		secret.Secret = true
		put(t, bundle.s, secret)
		got, err = bundle.s.VariableGet(ctx, "", "TOKEN")
		require.NoError(t, err)
		require.Equal(t, secret, got)
	})
	t.Run("PutReplacesButKeepsCreatedAt", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		first := newVariable("t1", "token", "plain", now().Add(-time.Hour))
		put(t, bundle.s, first)
		second := newVariable("t1", "token", "v1:sealed", now())
		second.Secret = true
		put(t, bundle.s, second)
		got, err := bundle.s.VariableGet(ctx, "t1", "token")
		require.NoError(t, err)
		require.Equal(t, &store.Variable{TenantID: "t1", Name: "token", Value: "v1:sealed", Secret: true,
			CreatedAt: first.CreatedAt, UpdatedAt: second.UpdatedAt}, got)

		// And back: a secret may become plain again.
		third := newVariable("t1", "token", "", now().Add(time.Minute))
		put(t, bundle.s, third)
		got, err = bundle.s.VariableGet(ctx, "t1", "token")
		require.NoError(t, err)
		require.Equal(t, &store.Variable{TenantID: "t1", Name: "token", Value: "", Secret: false,
			CreatedAt: first.CreatedAt, UpdatedAt: third.UpdatedAt}, got)
		all, err := bundle.s.VariableList(ctx, "t1")
		require.NoError(t, err)
		require.Len(t, all, 1)
	})
	t.Run("GlobalAndTenantVariablesAreSeparate", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		for _, tenant := range []string{"", "t1", "t2"} {
			put(t, bundle.s, newVariable(tenant, "region", "region of "+tenant, now()))
		}
		// Replacing one tenant's leaves the others alone.
		put(t, bundle.s, newVariable("t1", "region", "eu", now()))
		for tenant, want := range map[string]string{"": "region of ", "t1": "eu", "t2": "region of t2"} {
			got, err := bundle.s.VariableGet(ctx, tenant, "region")
			require.NoError(t, err, tenant)
			require.Equal(t, want, got.Value, tenant)
			require.Equal(t, tenant, got.TenantID)
		}
		require.NoError(t, del(t, bundle.s, "t1", "region"))
		_, err := bundle.s.VariableGet(ctx, "t1", "region")
		require.ErrorIs(t, err, store.ErrNotFound)
		for _, tenant := range []string{"", "t2"} {
			_, err := bundle.s.VariableGet(ctx, tenant, "region")
			require.NoError(t, err, tenant)
		}
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		put(t, bundle.s, newVariable("t1", "region", "eu", now()))
		for _, tc := range []struct{ tenant, name string }{{"t1", "other"}, {"", "region"}, {"t2", "region"}, {"t1", "REGION"}} {
			_, err := bundle.s.VariableGet(ctx, tc.tenant, tc.name)
			require.ErrorIs(t, err, store.ErrNotFound, "%+v", tc)
		}
	})
	t.Run("ListIsOneTenantsOrderedByName", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		got, err := bundle.s.VariableList(ctx, "t1")
		require.NoError(t, err)
		require.Empty(t, got)

		// Names are ASCII letters, digits and _; they list bytewise, as
		// SQLite orders them, whatever PostgreSQL's collation.
		for _, name := range []string{"b", "_z", "a", "Z1", "B", "a_1", "A"} {
			put(t, bundle.s, newVariable("t1", name, "v-"+name, now()))
		}
		put(t, bundle.s, newVariable("", "global", "g", now()))
		put(t, bundle.s, newVariable("t2", "aa", "other", now()))

		got, err = bundle.s.VariableList(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, []string{"A", "B", "Z1", "_z", "a", "a_1", "b"}, names(got))
		want, err := bundle.s.VariableGet(ctx, "t1", "Z1")
		require.NoError(t, err)
		require.Equal(t, want, got[2], "listed variables carry every field")

		got, err = bundle.s.VariableList(ctx, "")
		require.NoError(t, err)
		require.Equal(t, []string{"global"}, names(got))
		got, err = bundle.s.VariableList(ctx, "t2")
		require.NoError(t, err)
		require.Equal(t, []string{"aa"}, names(got))
		got, err = bundle.s.VariableList(ctx, "t9")
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("SharedRoundTripsAndPutReplacesIt", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		v := newVariable("", "base_url", "https://api.example", now())
		v.Shared = true
		put(t, bundle.s, v)
		got, err := bundle.s.VariableGet(ctx, "", "base_url")
		require.NoError(t, err)
		require.Equal(t, v, got)
		all, err := bundle.s.VariableList(ctx, "")
		require.NoError(t, err)
		require.Equal(t, []*store.Variable{v}, all)

		unshared := newVariable("", "base_url", "https://api.example", now().Add(time.Minute))
		put(t, bundle.s, unshared)
		got, err = bundle.s.VariableGet(ctx, "", "base_url")
		require.NoError(t, err)
		require.False(t, got.Shared, "a put without shared takes the sharing back")
	})
	t.Run("ListByNameFindsEveryScope", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		for _, tenant := range []string{"t2", "", "t1"} {
			put(t, bundle.s, newVariable(tenant, "token", "of "+tenant, now()))
		}
		put(t, bundle.s, newVariable("t1", "other", "x", now()))
		got, err := bundle.s.VariableListByName(ctx, "token")
		require.NoError(t, err)
		tenants := []string{}
		for _, v := range got {
			require.Equal(t, "token", v.Name)
			tenants = append(tenants, v.TenantID)
		}
		require.Equal(t, []string{"", "t1", "t2"}, tenants)
		got, err = bundle.s.VariableListByName(ctx, "nope")
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("DeleteUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		put(t, bundle.s, newVariable("t1", "region", "eu", now()))
		require.ErrorIs(t, del(t, bundle.s, "t1", "other"), store.ErrNotFound)
		require.ErrorIs(t, del(t, bundle.s, "", "region"), store.ErrNotFound)
		require.ErrorIs(t, del(t, bundle.s, "t2", "region"), store.ErrNotFound)
		require.NoError(t, del(t, bundle.s, "t1", "region"))
		require.ErrorIs(t, del(t, bundle.s, "t1", "region"), store.ErrNotFound)
		got, err := bundle.s.VariableList(ctx, "t1")
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

// newOAuth2Connection returns a connection with every field set.
func newOAuth2Connection(tenantID string, at time.Time) *store.OAuth2Connection {
	return &store.OAuth2Connection{
		ID:             events.NewID("oac_"),
		Name:           "CRM → Zoë 日本",
		TenantID:       tenantID,
		TokenURL:       "https://auth.example.com/oauth/token?aud=crm&x=1",
		ClientID:       "client-1",
		ClientSecret:   "v1:client-secret",
		Scopes:         []string{"read:contacts", "write:deals", "openid"},
		GrantType:      "refresh_token",
		RefreshToken:   "v1:refresh",
		AccessToken:    "v1:access",
		TokenExpiresAt: at.Add(time.Hour),
		CreatedAt:      at,
		UpdatedAt:      at.Add(time.Second),
	}
}

func testOAuth2Connections(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	create := func(t *testing.T, s store.Store, c *store.OAuth2Connection) error {
		t.Helper()
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.OAuth2ConnectionCreate(ctx, c) })
	}
	update := func(t *testing.T, s store.Store, c *store.OAuth2Connection) error {
		t.Helper()
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.OAuth2ConnectionUpdate(ctx, c) })
	}
	del := func(t *testing.T, s store.Store, id string) error {
		t.Helper()
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.OAuth2ConnectionDelete(ctx, id) })
	}
	get := func(t *testing.T, s store.Store, id string) *store.OAuth2Connection {
		t.Helper()
		c, err := s.OAuth2ConnectionGet(t.Context(), id)
		require.NoError(t, err)
		return c
	}
	ptr := func(s string) *string { return &s }

	t.Run("CreateThenGetRoundTripsEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		c := newOAuth2Connection("t1", now().Add(-time.Hour))
		require.NoError(t, create(t, bundle.s, c))
		require.Equal(t, c, get(t, bundle.s, c.ID))

		global := newOAuth2Connection("", now())
		require.NoError(t, create(t, bundle.s, global))
		require.Equal(t, global, get(t, bundle.s, global.ID))
	})
	t.Run("NilAndEmptyScopesReadAsEmptyAndZeroExpiryStaysZero", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		for _, scopes := range [][]string{nil, {}} {
			c := newOAuth2Connection("t1", now())
			c.Scopes = scopes
			c.GrantType, c.RefreshToken, c.AccessToken, c.TokenExpiresAt = "client_credentials", "", "", time.Time{}
			require.NoError(t, create(t, bundle.s, c))
			got := get(t, bundle.s, c.ID)
			require.NotNil(t, got.Scopes, "%#v", scopes)
			require.Empty(t, got.Scopes, "%#v", scopes)
			require.True(t, got.TokenExpiresAt.IsZero(), "%v", got.TokenExpiresAt)
			c.Scopes = []string{}
			require.Equal(t, c, got)
		}
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		require.NoError(t, create(t, bundle.s, newOAuth2Connection("t1", now())))
		_, err := bundle.s.OAuth2ConnectionGet(ctx, "oac_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateIDIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		c := newOAuth2Connection("t1", now())
		require.NoError(t, create(t, bundle.s, c))
		dup := newOAuth2Connection("t2", now())
		dup.ID = c.ID
		require.ErrorIs(t, create(t, bundle.s, dup), store.ErrConflict)
		require.Equal(t, c, get(t, bundle.s, c.ID))
	})
	t.Run("ListPagesInCreatedOrderAndFiltersByTenant", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		got, total, err := bundle.s.OAuth2ConnectionList(ctx, &store.OAuth2ConnectionListParams{Page: store.Page{Page: 1, PageSize: 10}})
		require.NoError(t, err)
		require.Empty(t, got)
		require.Zero(t, total)

		base := now().Add(-time.Hour)
		// cs[i] was created at base+i minutes; they are stored out of order.
		tenants := []string{"t1", "t2", "", "t1", "t1"}
		cs := make([]*store.OAuth2Connection, len(tenants))
		for i, tenant := range tenants {
			cs[i] = newOAuth2Connection(tenant, base.Add(time.Duration(i)*time.Minute))
		}
		for _, i := range []int{3, 0, 4, 2, 1} {
			require.NoError(t, create(t, bundle.s, cs[i]))
		}
		ids := func(list []*store.OAuth2Connection) []string {
			out := []string{}
			for _, c := range list {
				out = append(out, c.ID)
			}
			return out
		}
		want := func(is ...int) []string {
			out := []string{}
			for _, i := range is {
				out = append(out, cs[i].ID)
			}
			return out
		}
		for _, tc := range []struct {
			name      string
			p         store.OAuth2ConnectionListParams
			want      []string
			wantTotal int
		}{
			{"FirstPage", store.OAuth2ConnectionListParams{Page: store.Page{Page: 1, PageSize: 2}}, want(0, 1), 5},
			{"SecondPage", store.OAuth2ConnectionListParams{Page: store.Page{Page: 2, PageSize: 2}}, want(2, 3), 5},
			{"LastPage", store.OAuth2ConnectionListParams{Page: store.Page{Page: 3, PageSize: 2}}, want(4), 5},
			{"PastTheEnd", store.OAuth2ConnectionListParams{Page: store.Page{Page: 4, PageSize: 2}}, want(), 5},
			{"Tenant", store.OAuth2ConnectionListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("t1")}, want(0, 3, 4), 3},
			{"TenantSecondPage", store.OAuth2ConnectionListParams{Page: store.Page{Page: 2, PageSize: 2}, TenantID: ptr("t1")}, want(4), 3},
			{"AllTenantsConnectionsOnly", store.OAuth2ConnectionListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("")}, want(2), 1},
			{"UnknownTenant", store.OAuth2ConnectionListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("t9")}, want(), 0},
		} {
			got, total, err := bundle.s.OAuth2ConnectionList(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, ids(got), tc.name)
			require.Equal(t, tc.wantTotal, total, tc.name)
		}
		// Listed connections carry every field.
		got, _, err = bundle.s.OAuth2ConnectionList(ctx, &store.OAuth2ConnectionListParams{Page: store.Page{Page: 1, PageSize: 1}})
		require.NoError(t, err)
		require.Equal(t, []*store.OAuth2Connection{cs[0]}, got)
	})
	t.Run("UpdateWritesEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		c := newOAuth2Connection("t1", now().Add(-time.Hour))
		require.NoError(t, create(t, bundle.s, c))
		other := newOAuth2Connection("t1", now().Add(-time.Hour))
		require.NoError(t, create(t, bundle.s, other))
		upd := &store.OAuth2Connection{
			ID: c.ID, Name: "changed", TenantID: "t2", TokenURL: "http://other.example.com/token", ClientID: "client-2",
			ClientSecret: "v1:new-secret", Scopes: []string{"a"}, GrantType: "client_credentials", RefreshToken: "",
			AccessToken: "v1:new-access", TokenExpiresAt: now().Add(2 * time.Hour), CreatedAt: c.CreatedAt, UpdatedAt: now(),
		}
		require.NoError(t, update(t, bundle.s, upd))
		require.Equal(t, upd, get(t, bundle.s, c.ID))
		require.Equal(t, other, get(t, bundle.s, other.ID))

		// Clearing the cached token and the scopes.
		upd.AccessToken, upd.TokenExpiresAt, upd.Scopes = "", time.Time{}, nil
		require.NoError(t, update(t, bundle.s, upd))
		upd.Scopes = []string{}
		require.Equal(t, upd, get(t, bundle.s, c.ID))
	})
	t.Run("UpdateUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		c := newOAuth2Connection("t1", now())
		require.ErrorIs(t, update(t, bundle.s, c), store.ErrNotFound)
		_, err := bundle.s.OAuth2ConnectionGet(ctx, c.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DeleteRemovesOnlyThatConnection", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		c := newOAuth2Connection("t1", now())
		other := newOAuth2Connection("t1", now())
		require.NoError(t, create(t, bundle.s, c))
		require.NoError(t, create(t, bundle.s, other))
		require.ErrorIs(t, del(t, bundle.s, "oac_nope"), store.ErrNotFound)
		require.NoError(t, del(t, bundle.s, c.ID))
		require.ErrorIs(t, del(t, bundle.s, c.ID), store.ErrNotFound)
		_, err := bundle.s.OAuth2ConnectionGet(ctx, c.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Equal(t, other, get(t, bundle.s, other.ID))
		_, total, err := bundle.s.OAuth2ConnectionList(ctx, &store.OAuth2ConnectionListParams{Page: store.Page{Page: 1, PageSize: 10}})
		require.NoError(t, err)
		require.Equal(t, 1, total)
	})
}
