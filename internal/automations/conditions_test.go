package automations

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func companySizeEvent(tb testing.TB, tenant, from, to string) *events.Event {
	tb.Helper()
	ev, err := events.New(events.FieldValueSaved, tenant, time.Now(),
		events.Member{Key: "fieldGroupId", Value: "fg_1"},
		events.Member{Key: "fieldGroupKey", Value: "customer"},
		events.Member{Key: "entityId", Value: "cust-1"},
		events.Member{Key: "fieldKey", Value: "company_size"},
		events.Member{Key: "value", Value: to},
		events.Member{Key: "previousValue", Value: from})
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func companySizeRule(tb testing.TB, condition string) *rule {
	tb.Helper()
	def, err := json.Marshal(Definition{Trigger: Trigger{Event: "field_value.saved", FieldGroup: "customer", FieldKey: "company_size",
		From: "1-10", To: "51-200", Condition: condition}, Actions: []Action{{Name: "a", Type: ActionSetField, Values: map[string]any{"x": 1}}}})
	if err != nil {
		tb.Fatal(err)
	}
	r, err := compile(&store.Automation{ID: "au_1", Active: true, Definition: def}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestTriggerMatchesFiltersThenCondition(t *testing.T) {
	r := companySizeRule(t, "tenant.id != 'demo' && event.value.startsWith('51')")
	for _, c := range []struct {
		tenant, from, to string
		want             bool
	}{
		{"acme", "1-10", "51-200", true},
		{"demo", "1-10", "51-200", false},  // the condition refuses it
		{"acme", "11-50", "51-200", false}, // from differs
		{"acme", "1-10", "201+", false},    // to differs
	} {
		got, err := matches(context.Background(), nil, r, newEventView(companySizeEvent(t, c.tenant, c.from, c.to)))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%+v: matched %v, want %v", c, got, c.want)
		}
	}
}

func TestConditionCostLimitStopsRunawayExpressions(t *testing.T) {
	c, err := compileCondition("[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a+b+c+d > 0))))")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.eval(map[string]any{"event": map[string]any{}, "entity": map[string]any{}, "tenant": map[string]any{}, "steps": map[string]any{}}); err == nil {
		t.Fatal("a 10,000-iteration expression ran to the end; the cost limit should stop it")
	}
}

// BenchmarkConditionEval is the cost the issue bounds (under 5 µs per
// automation per event): evaluating a compiled trigger condition on an
// event already decoded for the automations looking at it.
func BenchmarkConditionEval(b *testing.B) {
	r := companySizeRule(b, "tenant.id != 'demo' && event.value.startsWith('51')")
	v := newEventView(companySizeEvent(b, "acme", "1-10", "51-200"))
	vars := map[string]any{"event": v.payload(), "tenant": map[string]any{"id": "acme"}, "entity": map[string]any{}, "steps": map[string]any{}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := r.cond.eval(vars); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkTriggerMatch is the whole per-automation match of one event:
// type, group, key, from and to filters, then the condition.
func BenchmarkTriggerMatch(b *testing.B) {
	r := companySizeRule(b, "tenant.id != 'demo' && event.value.startsWith('51')")
	ev := companySizeEvent(b, "acme", "1-10", "51-200")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := matches(ctx, nil, r, newEventView(ev)); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkTriggerMatchPerAutomation is the match's cost for each further
// automation looking at the same event: the event is decoded once per
// event, not once per automation.
func BenchmarkTriggerMatchPerAutomation(b *testing.B) {
	r := companySizeRule(b, "tenant.id != 'demo' && event.value.startsWith('51')")
	v := newEventView(companySizeEvent(b, "acme", "1-10", "51-200"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := matches(ctx, nil, r, v); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
