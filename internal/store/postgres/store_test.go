package postgres_test

import (
	"testing"

	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	schemas := storetest.NewPostgresSchemas(t)
	storetest.Run(t, func(t *testing.T) store.Store { return schemas.Open(t) })
}
