package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testRequestTemplates(t *testing.T, newStore func(t *testing.T) store.Store) {
	s := newStore(t)
	ctx := t.Context()
	at := now()
	vendor := &store.RequestTemplate{ID: events.NewID("rt_"), Name: "CRM: create contact", Version: 1,
		Request: []byte(`{"method":"POST","url":"https://crm.example.com/contacts","headers":{"X-Zoë":"日本"}}`), CreatedAt: at, UpdatedAt: at}
	tenant := &store.RequestTemplate{ID: events.NewID("rt_"), TenantID: "acme", Name: "CRM: create contact", Version: 1,
		Request: []byte(`{"method":"GET","url":"https://acme.example.com"}`), CreatedAt: at.Add(time.Second), UpdatedAt: at.Add(time.Second)}
	for _, rt := range []*store.RequestTemplate{vendor, tenant} {
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RequestTemplateCreate(ctx, rt) })
	}
	got, err := s.RequestTemplateGet(ctx, vendor.ID)
	require.NoError(t, err)
	require.Equal(t, vendor, got, "every field round-trips")

	// A name is unique per owner: the vendor's and a tenant's may share it.
	dup := *vendor
	dup.ID = events.NewID("rt_")
	err = inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RequestTemplateCreate(ctx, &dup) })
	require.ErrorIs(t, err, store.ErrConflict)

	all, total, err := s.RequestTemplateList(ctx, &store.RequestTemplateListParams{Page: store.Page{PageSize: 10, Page: 1}})
	require.NoError(t, err)
	require.Equal(t, 2, total)
	require.Equal(t, []*store.RequestTemplate{vendor, tenant}, all)
	vendorOnly := ""
	mine, total, err := s.RequestTemplateList(ctx, &store.RequestTemplateListParams{Page: store.Page{PageSize: 10, Page: 1}, TenantID: &vendorOnly})
	require.NoError(t, err)
	require.Equal(t, 1, total)
	require.Equal(t, vendor.ID, mine[0].ID)

	// An update applies only on top of the version it was made from.
	edit := *vendor
	edit.Version, edit.Request, edit.UpdatedAt = 2, []byte(`{"method":"PUT","url":"https://crm.example.com/v2"}`), at.Add(time.Minute)
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RequestTemplateUpdate(ctx, &edit) })
	stale := *vendor
	stale.Version = 2 // made from version 1, which is gone
	err = inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RequestTemplateUpdate(ctx, &stale) })
	require.ErrorIs(t, err, store.ErrNotFound)
	got, err = s.RequestTemplateGet(ctx, vendor.ID)
	require.NoError(t, err)
	require.Equal(t, &edit, got)

	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RequestTemplateDelete(ctx, vendor.ID) })
	_, err = s.RequestTemplateGet(ctx, vendor.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	err = inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RequestTemplateDelete(ctx, vendor.ID) })
	require.ErrorIs(t, err, store.ErrNotFound)
}
