package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/webhooks"
)

const tagExpressions = "Expressions"

// ExpressionInput is a CEL expression to check, and where it would go.
type ExpressionInput struct {
	Kind       string `json:"kind" enum:"filter,condition" doc:"filter: a webhook endpoint's filter (over event); condition: an automation's trigger or step condition (over event, entity, tenant and steps)."`
	Expression string `json:"expression" maxLength:"4096"`
}

// ExpressionCheck says whether an expression would be accepted at save.
type ExpressionCheck struct {
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty" doc:"Why a save would refuse it: syntax, types, a bad constant regular expression, or a cost over the limit."`
}

func (s *Server) registerExpressions() {
	huma.Register(s.api, huma.Operation{OperationID: "check-expression", Method: http.MethodPost, Path: "/api/expressions/check",
		Summary:     "Check a CEL filter or condition as a save would",
		Description: "For editors that check as one types: the same checks an endpoint or automation save makes, without saving anything.",
		Tags:        []string{tagExpressions}},
		func(ctx context.Context, in *struct{ Body ExpressionInput }) (*out[*ExpressionCheck], error) {
			var err error
			switch in.Body.Kind {
			case "filter":
				_, err = webhooks.CompileFilter(in.Body.Expression)
			default:
				err = automations.CheckCondition(in.Body.Expression)
			}
			if err != nil {
				return &out[*ExpressionCheck]{&ExpressionCheck{Error: err.Error()}}, nil
			}
			return &out[*ExpressionCheck]{&ExpressionCheck{Valid: true}}, nil
		})
}
