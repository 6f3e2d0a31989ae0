package events_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
)

func TestMatchTypeSelectsExactPrefixAndWildcard(t *testing.T) {
	t.Parallel()

	tests := []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{[]string{"field.created"}, "field.created", true},
		{[]string{"field.created"}, "field.updated", false},
		{[]string{"field.*"}, "field.created", true},
		{[]string{"field.*"}, "field.value.saved", true},
		{[]string{"field.*"}, "fieldx.y", false}, // no partial-word prefix match
		{[]string{"field.*"}, "field", false},
		{[]string{"field*"}, "fieldx", false}, // only ".*" is a wildcard
		{[]string{"*"}, "anything.at.all", true},
		{[]string{"record.updated", "field.*"}, "field.deleted", true},
		{[]string{"record.updated", "field.*"}, "record.created", false},
		{nil, "field.created", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, events.MatchType(tt.patterns, tt.typ), "patterns %q, type %q", tt.patterns, tt.typ)
	}
}

func TestClassIsTheReservedPrefixOrHost(t *testing.T) {
	t.Parallel()
	require.Equal(t, "field_value", events.Class(events.FieldValueSaved))
	require.Equal(t, "field_group", events.Class(events.FieldGroupCreated))
	require.Equal(t, "webhook", events.Class("webhook.disabled"))
	require.Equal(t, "host", events.Class("booking.created"))
	require.Equal(t, "host", events.Class("field_valuex"))
	for _, p := range events.ReservedPrefixes() {
		require.NotEqual(t, "host", events.Class(p+"x"), p)
	}
}
