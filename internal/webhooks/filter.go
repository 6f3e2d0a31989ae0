package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/interpreter"
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
func CompileFilter(expr string) (*Filter, error) {
	env, err := filterEnv()
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("filter must be a boolean expression, not %s", t)
	}
	est, err := env.EstimateCost(ast, sizeAssumption{})
	if err != nil {
		return nil, fmt.Errorf("estimate filter cost: %w", err)
	}
	if est.Max > filterCostLimit {
		return nil, fmt.Errorf("filter is too expensive: its cost can reach %s, the limit is %d (payload lists and strings counted at %d items)",
			humanCost(est.Max), filterCostLimit, filterSizeAssumption)
	}
	// The regex optimization compiles constant patterns now, so a bad one
	// is refused here rather than failing on every event.
	prg, err := env.Program(ast, cel.CostLimit(filterCostLimit), cel.OptimizeRegex(interpreter.MatchesRegexOptimization))
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

// sizeAssumption is the cost.Estimator of the check at save: every
// size it is asked about is at most filterSizeAssumption, and calls cost
// what the library says they cost.
type sizeAssumption struct{}

func (sizeAssumption) EstimateSize(cost.AstNode) *cost.SizeEstimate {
	return &cost.SizeEstimate{Min: 0, Max: filterSizeAssumption}
}

func (sizeAssumption) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
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
	out, _, err := f.prg.Eval(map[string]any{"event": input})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("%w: got %v", errFilterResult, out.Value())
	}
	return b, nil
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

// MatchType reports whether an event type is selected by an endpoint's
// patterns: an exact name, "prefix.*" or "*".
func MatchType(patterns []string, typ string) bool {
	for _, p := range patterns {
		switch {
		case p == "*" || p == typ:
			return true
		case strings.HasSuffix(p, ".*") && strings.HasPrefix(typ, p[:len(p)-1]):
			return true
		}
	}
	return false
}
