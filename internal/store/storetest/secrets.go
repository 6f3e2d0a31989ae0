package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store"
)

func testSecrets(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("MetaCreateKeepsTheFirstValueAndMetaSetReplacesIt", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		_, err := s.MetaGet(ctx, store.MetaMasterKeyCheck)
		require.ErrorIs(t, err, store.ErrNotFound)

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.MetaCreate(ctx, store.MetaMasterKeyCheck, "v1:first")
		})
		err = inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.MetaCreate(ctx, store.MetaMasterKeyCheck, "v1:second")
		})
		require.ErrorIs(t, err, store.ErrConflict)
		got, err := s.MetaGet(ctx, store.MetaMasterKeyCheck)
		require.NoError(t, err)
		require.Equal(t, "v1:first", got)

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.MetaSet(ctx, store.MetaMasterKeyCheck, "v1:third")
		})
		got, err = s.MetaGet(ctx, store.MetaMasterKeyCheck)
		require.NoError(t, err)
		require.Equal(t, "v1:third", got)
	})

	t.Run("SealedValueListFindsEverySealedColumnAndUpdateWritesItBack", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		at := now()
		ep := createEndpoint(t, s, newEndpoint("t1", at))
		bare := newEndpoint("t1", at) // no previous secret: nothing sealed there
		bare.PrevSecret = ""
		createEndpoint(t, s, bare)
		conn := newOAuth2Connection("t1", at)
		au := createAutomation(t, s, newAutomation("t1", at))
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.OAuth2ConnectionCreate(ctx, conn); err != nil {
				return err
			}
			for _, v := range []*store.Variable{
				{TenantID: "t1", Name: "token", Value: "v1:variable", Secret: true, CreatedAt: at, UpdatedAt: at},
				{TenantID: "t1", Name: "plain", Value: "not sealed", CreatedAt: at, UpdatedAt: at},
			} {
				if err := tx.VariablePut(ctx, v); err != nil {
					return err
				}
			}
			return nil
		})

		got, err := s.SealedValueList(ctx)
		require.NoError(t, err)
		byPlace := map[string]string{}
		for _, v := range got {
			byPlace[v.Column+" "+join(v.Key)] = v.Value
		}
		require.Equal(t, map[string]string{
			"webhook_endpoints.secret " + ep.ID:           ep.Secret,
			"webhook_endpoints.secret " + bare.ID:         bare.Secret,
			"webhook_endpoints.prev_secret " + ep.ID:      ep.PrevSecret,
			"variables.value t1/token":                    "v1:variable",
			"oauth2_connections.client_secret " + conn.ID: conn.ClientSecret,
			"oauth2_connections.refresh_token " + conn.ID: conn.RefreshToken,
			"oauth2_connections.access_token " + conn.ID:  conn.AccessToken,
			"automations.secret " + au.ID:                 au.Secret,
		}, byPlace, "every sealed value and nothing else (not the plain variable, not an empty secret)")

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			for _, v := range got {
				if err := tx.SealedValueUpdate(ctx, &store.SealedValue{Column: v.Column, Key: v.Key, Value: "v1:resealed " + v.Column}); err != nil {
					return err
				}
			}
			return nil
		})
		again, err := s.SealedValueList(ctx)
		require.NoError(t, err)
		require.Len(t, again, len(got))
		for _, v := range again {
			require.Equal(t, "v1:resealed "+v.Column, v.Value, "%s %v", v.Column, v.Key)
		}
		gotEp, err := s.EndpointGet(ctx, ep.ID)
		require.NoError(t, err)
		require.Equal(t, "v1:resealed webhook_endpoints.prev_secret", gotEp.PrevSecret)
		require.Equal(t, ep.URL, gotEp.URL, "nothing else of the row changed")
		plain, err := s.VariableGet(ctx, "t1", "plain")
		require.NoError(t, err)
		require.Equal(t, "not sealed", plain.Value)
	})

	t.Run("SealedValueUpdateOfAGoneRowIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, v := range []*store.SealedValue{
			{Column: "webhook_endpoints.secret", Key: []string{"ep_gone"}, Value: "v1:x"},
			{Column: "api_keys.hash", Key: []string{"key_1"}, Value: "v1:x"}, // not a sealed column
			{Column: "variables.value", Key: []string{"t1"}, Value: "v1:x"},  // half a key
		} {
			err := inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.SealedValueUpdate(ctx, v) })
			require.True(t, errors.Is(err, store.ErrNotFound), "%s %v: %v", v.Column, v.Key, err)
		}
	})
}

func join(key []string) string {
	out := ""
	for i, k := range key {
		if i > 0 {
			out += "/"
		}
		out += k
	}
	return out
}
