package webhooks

import (
	"encoding/json"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
)

// filterCostLimit bounds one evaluation of an endpoint filter, so a filter
// cannot stall the transaction that fans an event out.
const filterCostLimit = 10_000

// Filter is a compiled endpoint filter: a CEL expression over the payload,
// available as `event` (event.type is there as event.event).
type Filter struct {
	prg cel.Program
}

func filterEnv() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
}

// CompileFilter parses and checks a filter; the error says what is wrong.
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
	prg, err := env.Program(ast, cel.CostLimit(filterCostLimit))
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return &Filter{prg: prg}, nil
}

// Match evaluates the filter on a payload. An evaluation error (a missing
// key, a type mismatch) is a non-match: the event does not go out.
func (f *Filter) Match(payload map[string]any) bool {
	out, _, err := f.prg.Eval(map[string]any{"event": payload})
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}

// decodePayload decodes an event payload for filters.
func decodePayload(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
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
