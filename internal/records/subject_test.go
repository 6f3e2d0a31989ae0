package records_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// recorder is a subscriber that keeps what it is handed.
type recorder struct{ evs []*events.Event }

func (r *recorder) Handle(_ context.Context, _ store.Tx, evs []*events.Event) error {
	r.evs = append(r.evs, evs...)
	return nil
}

// TestSubjectAgreesWithPayload proves that the subject subscribers read in
// the writing transaction says what the payload says, so an event read
// back from the database (decoded by events.SubjectOf) is seen the same
// way; and that it carries the entity's values as stored.
func TestSubjectAgreesWithPayload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, "sqlite")
	rec := &recorder{}
	rs := records.New(records.Config{Store: st, Subscribers: []records.Subscriber{rec}})
	_, err := rs.CreateFieldGroup(ctx, scope.Admin(), &records.FieldGroupInput{Key: "deal", Name: "Deal"})
	require.NoError(t, err)
	for _, key := range []string{"stage", "notes"} {
		_, err = rs.CreateGlobalField(ctx, scope.Admin(), &records.GlobalFieldInput{Key: key, Label: key,
			Schema: fields.Schema{Type: fields.String}, FieldGroupIDs: []string{"deal"}})
		require.NoError(t, err)
	}
	_, err = rs.SaveValues(ctx, scope.Admin(), &records.SaveValuesParams{TenantID: "t1", Group: "deal", EntityID: "d1", Values: map[string]any{"stage": "open", "notes": "a"}})
	require.NoError(t, err)
	rec.evs = nil
	_, err = rs.SaveValues(ctx, scope.Admin(), &records.SaveValuesParams{TenantID: "t1", Group: "deal", EntityID: "d1", Values: map[string]any{"stage": "won", "notes": nil}})
	require.NoError(t, err)
	_, err = rs.Publish(ctx, scope.Admin(), &records.PublishInput{Type: "deal.closed", TenantID: "t1", Data: map[string]any{"id": "d1"}})
	require.NoError(t, err)

	stored, err := st.EntityGet(ctx, store.EntityKey{TenantID: "t1", FieldGroupID: rec.evs[0].Subject.FieldGroupID, EntityID: "d1"})
	require.NoError(t, err)
	require.Len(t, rec.evs, 4) // two field_value.*, entity.updated, the host event
	for _, ev := range rec.evs {
		require.NotNil(t, ev.Subject, ev.Type)
		decoded := events.DecodeSubject(ev.Payload)
		want := *ev.Subject
		switch ev.Type {
		case events.FieldValueSaved, events.FieldValueDeleted:
			require.Equal(t, stored.Values, ev.Subject.Values, ev.Type)
			// A field_value.* payload does not carry the entity.
			want.Values, want.Version = nil, 0
		case events.EntityUpdated:
			require.Equal(t, stored.Values, ev.Subject.Values)
			require.Equal(t, stored.Version, ev.Subject.Version)
		}
		require.Equal(t, &want, decoded, ev.Type)
		require.Same(t, ev.Subject, events.SubjectOf(ev))
	}
}
