package records_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// TestSaveSeesSchemaChanges proves the schema cache of value saves: a
// change made through the same service is seen by the very next save, and
// one made through another service (another process on the same database)
// within SchemaTTL.
func TestSaveSeesSchemaChanges(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, dialect)
			const ttl = 300 * time.Millisecond
			a := records.New(records.Config{Store: st, SchemaTTL: ttl})
			b := records.New(records.Config{Store: st, SchemaTTL: ttl})
			_, err := a.CreateFieldGroup(ctx, scope.Admin(), &records.FieldGroupInput{Key: "deal", Name: "Deal"})
			require.NoError(t, err)
			_, err = a.CreateGlobalField(ctx, scope.Admin(), &records.GlobalFieldInput{Key: "amount", Label: "Amount",
				Schema: fields.Schema{Type: fields.Number}, FieldGroupIDs: []string{"deal"}})
			require.NoError(t, err)

			save := func(s *records.Service, key string, v any) error {
				_, err := s.SaveValues(ctx, scope.Admin(), &records.SaveValuesParams{TenantID: "t1", Group: "deal", EntityID: "d1", Values: map[string]any{key: v}})
				return err
			}
			require.NoError(t, save(a, "amount", 1.0))
			require.NoError(t, save(b, "amount", 2.0)) // b has the schema in memory now

			_, err = a.CreateTenantField(ctx, scope.Admin(), "t1", "deal", &records.TenantFieldInput{Key: "stage", Label: "Stage",
				Schema: fields.Schema{Type: fields.String}})
			require.NoError(t, err)
			require.NoError(t, save(a, "stage", "won"), "the service that made the change sees it at once")

			changed := time.Now()
			for save(b, "stage", "lost") != nil {
				require.Less(t, time.Since(changed), 3*ttl, "another service must see the new field within SchemaTTL")
				time.Sleep(20 * time.Millisecond)
			}

			// Deleting the field is seen the same way: first here, then there.
			fs, _, err := a.ListTenantFields(ctx, scope.Admin(), "t1", "deal", store.Page{Page: 1, PageSize: 10})
			require.NoError(t, err)
			require.NoError(t, a.DeleteTenantField(ctx, scope.Admin(), "t1", fs[0].ID))
			var ve *problem.ValidationError
			require.ErrorAs(t, save(a, "stage", "open"), &ve)
			changed = time.Now()
			for save(b, "stage", "closed") == nil {
				require.Less(t, time.Since(changed), 3*ttl, "another service must stop accepting a deleted field within SchemaTTL")
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
