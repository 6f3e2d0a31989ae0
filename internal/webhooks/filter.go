package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"

	"github.com/fieldflow/fieldflow/internal/expr"
)

// filterCostLimit bounds one evaluation of an endpoint filter, so a filter
// cannot stall the transaction that fans an event out.
const filterCostLimit = 10_000

// filterSizeAssumption is the size, in items or characters, that the check
// at save assumes for every list, map and string read from the event. The
// payload's real sizes are unknown until an event comes; without a bound
// any loop over them would count as endless and every such filter would be
// refused. A filter whose cost exceeds the limit even at this size is
// refused; a larger payload can still hit the limit at run time, and that
// is reported as a filter error.
const filterSizeAssumption = 100

// payloadKeys are the top-level members of every payload shape fieldflow
// sends (API.md, "What a receiver gets"). A filter sees each of them on
// every event, null when the event does not carry it, so that
// event.fieldKey != "internal_note" is true for a host event instead of
// failing with "no such key".
var payloadKeys = []string{"event", "eventId", "timestamp", "tenantId", "fieldGroupId", "fieldGroupKey", "entityId",
	"fieldKey", "value", "previousValue", "values", "previousValues", "changedKeys", "version",
	"fieldGroup", "field", "previous", "data", "causedBy"}

// Filter is a compiled endpoint filter: a CEL expression over the payload,
// available as `event` (event.type is there as event.event).
type Filter struct {
	prg cel.Program
}

func filterEnv() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
}

// CompileFilter parses and checks a filter; the error says what is wrong.
// Besides syntax and types it refuses what is sure to fail at run time: a
// constant regular expression that does not compile, and a worst-case cost
// above the limit (see filterSizeAssumption).
func CompileFilter(src string) (*Filter, error) {
	env, err := filterEnv()
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	ast, err := expr.Check(env, src)
	if nb := (*expr.NotBooleanError)(nil); errors.As(err, &nb) {
		return nil, fmt.Errorf("filter %w", err)
	} else if err != nil {
		return nil, err
	}
	maxCost, err := expr.MaxCost(env, ast, expr.InputSizes{Max: filterSizeAssumption})
	if err != nil {
		return nil, fmt.Errorf("estimate filter cost: %w", err)
	}
	if maxCost > filterCostLimit {
		return nil, fmt.Errorf("filter is too expensive: its cost can reach %s, the limit is %d (payload lists and strings counted at %d items)",
			humanCost(maxCost), filterCostLimit, filterSizeAssumption)
	}
	// The regex optimization compiles constant patterns now, so a bad one
	// is refused here rather than failing on every event.
	prg, err := expr.Program(env, ast, filterCostLimit, cel.OptimizeRegex(interpreter.MatchesRegexOptimization))
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return &Filter{prg: prg}, nil
}

func humanCost(c uint64) string {
	if c > 1e12 {
		return "more than 10^12"
	}
	return fmt.Sprint(c)
}

// errFilterResult is returned when a filter yields something other than a
// boolean (possible only through dyn values).
var errFilterResult = errors.New("webhooks: filter did not yield a boolean")

// Eval evaluates the filter on a payload. A payload key the event does not
// carry reads as null (see payloadKeys). An evaluation error (a missing
// nested key, a type mismatch, the cost limit) is returned: the event does
// not go to the endpoint, and the caller makes that visible.
func (f *Filter) Eval(payload map[string]any) (bool, error) {
	return f.eval(filterInput(payload))
}

// filterInput is a payload with every payload key the event does not
// carry set to null. Fan-out builds it once per event for all endpoints.
func filterInput(payload map[string]any) map[string]any {
	ev := make(map[string]any, len(payload)+len(payloadKeys))
	for _, k := range payloadKeys {
		ev[k] = nil
	}
	for k, v := range payload {
		ev[k] = v
	}
	return ev
}

// eval evaluates the filter on a filterInput.
func (f *Filter) eval(input map[string]any) (bool, error) {
	b, err := expr.Eval(f.prg, map[string]any{"event": input})
	if re := (*expr.ResultError)(nil); errors.As(err, &re) {
		return false, fmt.Errorf("%w: got %v", errFilterResult, re.Value)
	}
	return b, err
}

// decodePayload decodes an event payload for filters.
func decodePayload(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// decodeFilterInput decodes an event payload into a filterInput.
func decodeFilterInput(b []byte) map[string]any {
	return filterInput(decodePayload(b))
}
