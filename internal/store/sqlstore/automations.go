package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/fieldflow/fieldflow/internal/store"
)

const variableCols = `tenant_id, name, value, secret, shared, created_at, updated_at`

func scanVariable(row interface{ Scan(...any) error }) (*store.Variable, error) {
	v := &store.Variable{}
	err := row.Scan(&v.TenantID, &v.Name, &v.Value, &v.Secret, &v.Shared, scanTime{&v.CreatedAt}, scanTime{&v.UpdatedAt})
	return v, err
}

func (q *queries) VariablePut(ctx context.Context, v *store.Variable) error {
	_, err := q.exec(ctx, `INSERT INTO variables (`+variableCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, secret = excluded.secret, shared = excluded.shared,
			updated_at = excluded.updated_at`,
		v.TenantID, v.Name, v.Value, v.Secret, v.Shared, q.t(v.CreatedAt), q.t(v.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put variable: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) VariableGet(ctx context.Context, tenantID, name string) (*store.Variable, error) {
	v, err := scanVariable(q.queryRow(ctx, `SELECT `+variableCols+` FROM variables WHERE tenant_id = $1 AND name = $2`, tenantID, name))
	if err != nil {
		return nil, fmt.Errorf("get variable: %w", q.interpret(err))
	}
	return v, nil
}

func (q *queries) VariableList(ctx context.Context, tenantID string) ([]*store.Variable, error) {
	rows, err := q.query(ctx, `SELECT `+variableCols+` FROM variables WHERE tenant_id = $1`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	out, err := collect(rows, scanVariable)
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	// Sorted bytewise here: unlike SQLite, PostgreSQL's ORDER BY name would
	// follow the database's collation ("a" before "B" under en_US), and
	// variables.name is not COLLATE "C" as the field keys are.
	slices.SortFunc(out, func(a, b *store.Variable) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (q *queries) VariableListByName(ctx context.Context, name string) ([]*store.Variable, error) {
	rows, err := q.query(ctx, `SELECT `+variableCols+` FROM variables WHERE name = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("list variables named %s: %w", name, err)
	}
	out, err := collect(rows, scanVariable)
	if err != nil {
		return nil, fmt.Errorf("list variables named %s: %w", name, err)
	}
	// Bytewise, for the reason VariableList gives.
	slices.SortFunc(out, func(a, b *store.Variable) int { return strings.Compare(a.TenantID, b.TenantID) })
	return out, nil
}

func (q *queries) VariableDelete(ctx context.Context, tenantID, name string) error {
	res, err := q.exec(ctx, `DELETE FROM variables WHERE tenant_id = $1 AND name = $2`, tenantID, name)
	return q.checkAffected("delete variable", res, err)
}

const oauth2Cols = `id, name, tenant_id, token_url, client_id, client_secret, scopes, grant_type, refresh_token, access_token,
	token_expires_at, created_at, updated_at`

func scanOAuth2(row interface{ Scan(...any) error }) (*store.OAuth2Connection, error) {
	c := &store.OAuth2Connection{}
	var scopes string
	err := row.Scan(&c.ID, &c.Name, &c.TenantID, &c.TokenURL, &c.ClientID, &c.ClientSecret, &scopes, &c.GrantType, &c.RefreshToken,
		&c.AccessToken, scanTime{&c.TokenExpiresAt}, scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return nil, fmt.Errorf("decode scopes: %w", err)
	}
	return c, nil
}

func (q *queries) oauth2Args(c *store.OAuth2Connection) []any {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return []any{c.ID, c.Name, c.TenantID, c.TokenURL, c.ClientID, c.ClientSecret, jsonText(scopes), c.GrantType, c.RefreshToken,
		c.AccessToken, q.t(c.TokenExpiresAt), q.t(c.CreatedAt), q.t(c.UpdatedAt)}
}

func (q *queries) OAuth2ConnectionCreate(ctx context.Context, c *store.OAuth2Connection) error {
	if _, err := q.exec(ctx, `INSERT INTO oauth2_connections (`+oauth2Cols+`) VALUES (`+placeholders(1, 13)+`)`, q.oauth2Args(c)...); err != nil {
		return fmt.Errorf("create OAuth2 connection: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) OAuth2ConnectionUpdate(ctx context.Context, c *store.OAuth2Connection) error {
	res, err := q.exec(ctx, `UPDATE oauth2_connections SET name = $2, tenant_id = $3, token_url = $4, client_id = $5, client_secret = $6,
		scopes = $7, grant_type = $8, refresh_token = $9, access_token = $10, token_expires_at = $11, created_at = $12, updated_at = $13
		WHERE id = $1`, q.oauth2Args(c)...)
	return q.checkAffected("update OAuth2 connection", res, err)
}

func (q *queries) OAuth2ConnectionDelete(ctx context.Context, id string) error {
	res, err := q.exec(ctx, `DELETE FROM oauth2_connections WHERE id = $1`, id)
	return q.checkAffected("delete OAuth2 connection", res, err)
}

func (q *queries) OAuth2ConnectionGet(ctx context.Context, id string) (*store.OAuth2Connection, error) {
	c, err := scanOAuth2(q.queryRow(ctx, `SELECT `+oauth2Cols+` FROM oauth2_connections WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get OAuth2 connection: %w", q.interpret(err))
	}
	return c, nil
}

func (q *queries) OAuth2ConnectionList(ctx context.Context, p *store.OAuth2ConnectionListParams) ([]*store.OAuth2Connection, int, error) {
	where, args := "", []any{}
	if p.TenantID != nil {
		where, args = ` WHERE tenant_id = $1`, append(args, *p.TenantID)
	}
	total, err := q.count(ctx, `SELECT count(*) FROM oauth2_connections`+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count OAuth2 connections: %w", err)
	}
	n := len(args)
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT `+oauth2Cols+` FROM oauth2_connections`+where+` ORDER BY created_at, id LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.PageSize, p.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("list OAuth2 connections: %w", err)
	}
	out, err := collect(rows, scanOAuth2)
	if err != nil {
		return nil, 0, fmt.Errorf("list OAuth2 connections: %w", err)
	}
	return out, total, nil
}

// ---- request templates

const requestTemplateCols = `id, tenant_id, name, version, request, created_at, updated_at`

func scanRequestTemplate(row interface{ Scan(...any) error }) (*store.RequestTemplate, error) {
	rt := &store.RequestTemplate{}
	var req string
	if err := row.Scan(&rt.ID, &rt.TenantID, &rt.Name, &rt.Version, &req, scanTime{&rt.CreatedAt}, scanTime{&rt.UpdatedAt}); err != nil {
		return nil, err
	}
	rt.Request = []byte(req)
	return rt, nil
}

func (q *queries) RequestTemplateCreate(ctx context.Context, rt *store.RequestTemplate) error {
	_, err := q.exec(ctx, `INSERT INTO request_templates (`+requestTemplateCols+`) VALUES (`+placeholders(1, 7)+`)`,
		rt.ID, rt.TenantID, rt.Name, rt.Version, string(rt.Request), q.t(rt.CreatedAt), q.t(rt.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create request template: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) RequestTemplateUpdate(ctx context.Context, rt *store.RequestTemplate) error {
	res, err := q.exec(ctx, `UPDATE request_templates SET name = $2, version = $3, request = $4, updated_at = $5
		WHERE id = $1 AND version = $6`, rt.ID, rt.Name, rt.Version, string(rt.Request), q.t(rt.UpdatedAt), rt.Version-1)
	return q.checkAffected("update request template", res, err)
}

func (q *queries) RequestTemplateDelete(ctx context.Context, id string) error {
	res, err := q.exec(ctx, `DELETE FROM request_templates WHERE id = $1`, id)
	return q.checkAffected("delete request template", res, err)
}

func (q *queries) RequestTemplateGet(ctx context.Context, id string) (*store.RequestTemplate, error) {
	rt, err := scanRequestTemplate(q.queryRow(ctx, `SELECT `+requestTemplateCols+` FROM request_templates WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get request template: %w", q.interpret(err))
	}
	return rt, nil
}

func (q *queries) RequestTemplateList(ctx context.Context, p *store.RequestTemplateListParams) ([]*store.RequestTemplate, int, error) {
	where, args := "", []any{}
	if p.TenantID != nil {
		where, args = ` WHERE tenant_id = $1`, append(args, *p.TenantID)
	}
	total, err := q.count(ctx, `SELECT count(*) FROM request_templates`+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count request templates: %w", err)
	}
	n := len(args)
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT `+requestTemplateCols+` FROM request_templates`+where+` ORDER BY created_at, id LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.PageSize, p.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("list request templates: %w", err)
	}
	out, err := collect(rows, scanRequestTemplate)
	if err != nil {
		return nil, 0, fmt.Errorf("list request templates: %w", err)
	}
	return out, total, nil
}

// ---- automations

const automationCols = `id, tenant_id, name, active, activated_at, definition, secret, created_at, updated_at`

// bytesOrNil is text read from a JSON column: nil when empty, so that nil
// and empty values round-trip alike on both databases.
func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func scanAutomation(row interface{ Scan(...any) error }) (*store.Automation, error) {
	a := &store.Automation{}
	var def string
	err := row.Scan(&a.ID, &a.TenantID, &a.Name, &a.Active, scanTime{&a.ActivatedAt}, &def, &a.Secret,
		scanTime{&a.CreatedAt}, scanTime{&a.UpdatedAt})
	a.Definition = bytesOrNil(def)
	return a, err
}

func (q *queries) automationArgs(a *store.Automation) []any {
	return []any{a.ID, a.TenantID, a.Name, a.Active, q.t(a.ActivatedAt), string(a.Definition), a.Secret,
		q.t(a.CreatedAt), q.t(a.UpdatedAt)}
}

func (q *queries) AutomationCreate(ctx context.Context, a *store.Automation) error {
	if _, err := q.exec(ctx, `INSERT INTO automations (`+automationCols+`) VALUES (`+placeholders(1, 9)+`)`, q.automationArgs(a)...); err != nil {
		return fmt.Errorf("create automation: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) AutomationUpdate(ctx context.Context, a *store.Automation) error {
	res, err := q.exec(ctx, `UPDATE automations SET tenant_id = $2, name = $3, active = $4, activated_at = $5, definition = $6,
		secret = $7, created_at = $8, updated_at = $9 WHERE id = $1`, q.automationArgs(a)...)
	return q.checkAffected("update automation", res, err)
}

// AutomationDelete relies on the foreign keys: runs (and with them their
// steps) and timers go by ON DELETE CASCADE.
func (q *queries) AutomationDelete(ctx context.Context, id string) error {
	res, err := q.exec(ctx, `DELETE FROM automations WHERE id = $1`, id)
	return q.checkAffected("delete automation", res, err)
}

func (q *queries) AutomationGet(ctx context.Context, id string) (*store.Automation, error) {
	a, err := scanAutomation(q.queryRow(ctx, `SELECT `+automationCols+` FROM automations WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get automation: %w", q.interpret(err))
	}
	return a, nil
}

func (q *queries) AutomationList(ctx context.Context, p *store.AutomationListParams) ([]*store.Automation, int, error) {
	where, args := "", []any{}
	if p.TenantID != nil {
		where, args = ` WHERE tenant_id = $1`, append(args, *p.TenantID)
	}
	total, err := q.count(ctx, `SELECT count(*) FROM automations`+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count automations: %w", err)
	}
	n := len(args)
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT `+automationCols+` FROM automations`+where+` ORDER BY created_at, id LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.PageSize, p.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("list automations: %w", err)
	}
	out, err := collect(rows, scanAutomation)
	if err != nil {
		return nil, 0, fmt.Errorf("list automations: %w", err)
	}
	return out, total, nil
}

func (q *queries) AutomationListAll(ctx context.Context) ([]*store.Automation, error) {
	rows, err := q.query(ctx, `SELECT `+automationCols+` FROM automations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list all automations: %w", err)
	}
	out, err := collect(rows, scanAutomation)
	if err != nil {
		return nil, fmt.Errorf("list all automations: %w", err)
	}
	return out, nil
}
