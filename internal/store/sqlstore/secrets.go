package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldflow/fieldflow/internal/store"
)

// sealedColumn is a column that holds values sealed with the master key.
type sealedColumn struct {
	table, column string
	key           []string // the primary key columns
	where         string   // narrows to the rows whose column is sealed
}

// sealedColumns lists every column that holds a sealed value. A new sealed
// column must be added here: a key rotation re-seals only these, and a
// value it misses could not be opened afterwards.
var sealedColumns = []sealedColumn{
	{table: "webhook_endpoints", column: "secret", key: []string{"id"}},
	{table: "webhook_endpoints", column: "prev_secret", key: []string{"id"}},
	{table: "variables", column: "value", key: []string{"tenant_id", "name"}, where: "secret"},
	{table: "oauth2_connections", column: "client_secret", key: []string{"id"}},
	{table: "oauth2_connections", column: "refresh_token", key: []string{"id"}},
	{table: "oauth2_connections", column: "access_token", key: []string{"id"}},
	{table: "automations", column: "secret", key: []string{"id"}},
}

func (q *queries) MetaGet(ctx context.Context, key string) (string, error) {
	var v string
	if err := q.queryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("get meta %s: %w", key, q.interpret(err))
	}
	return v, nil
}

func (q *queries) MetaCreate(ctx context.Context, key, value string) error {
	if _, err := q.exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)`, key, value); err != nil {
		return fmt.Errorf("create meta %s: %w", key, q.interpret(err))
	}
	return nil
}

func (q *queries) MetaSet(ctx context.Context, key, value string) error {
	_, err := q.exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("set meta %s: %w", key, q.interpret(err))
	}
	return nil
}

func (q *queries) SealedValueList(ctx context.Context) ([]*store.SealedValue, error) {
	var out []*store.SealedValue
	for _, c := range sealedColumns {
		where := c.column + " <> ''"
		if c.where != "" {
			where += " AND " + c.where
		}
		rows, err := q.query(ctx, `SELECT `+strings.Join(c.key, ", ")+`, `+c.column+` FROM `+c.table+` WHERE `+where+` ORDER BY `+strings.Join(c.key, ", "))
		if err != nil {
			return nil, fmt.Errorf("list sealed values of %s.%s: %w", c.table, c.column, err)
		}
		vals, err := collect(rows, func(row interface{ Scan(...any) error }) (*store.SealedValue, error) {
			v := &store.SealedValue{Column: c.table + "." + c.column, Key: make([]string, len(c.key))}
			dest := make([]any, 0, len(c.key)+1)
			for i := range v.Key {
				dest = append(dest, &v.Key[i])
			}
			return v, row.Scan(append(dest, &v.Value)...)
		})
		if err != nil {
			return nil, fmt.Errorf("list sealed values of %s.%s: %w", c.table, c.column, err)
		}
		out = append(out, vals...)
	}
	return out, nil
}

func (q *queries) SealedValueUpdate(ctx context.Context, v *store.SealedValue) error {
	var c *sealedColumn
	for i := range sealedColumns {
		if sealedColumns[i].table+"."+sealedColumns[i].column == v.Column {
			c = &sealedColumns[i]
		}
	}
	if c == nil || len(v.Key) != len(c.key) {
		return fmt.Errorf("update sealed value of %s %v: %w", v.Column, v.Key, store.ErrNotFound)
	}
	conds := make([]string, len(c.key))
	args := []any{v.Value}
	for i, k := range c.key {
		conds[i] = fmt.Sprintf("%s = $%d", k, i+2)
		args = append(args, v.Key[i])
	}
	res, err := q.exec(ctx, `UPDATE `+c.table+` SET `+c.column+` = $1 WHERE `+strings.Join(conds, " AND "), args...)
	return q.checkAffected(fmt.Sprintf("update sealed value of %s %v", v.Column, v.Key), res, err)
}
