package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
)

// savesTenant is the tenant the saves scenario writes as.
const savesTenant = "bench"

// entitiesPerClient is how many entities each client cycles through: its
// first round creates them, later rounds update them.
const entitiesPerClient = 100

// setupSaves creates a field group of its own (so that runs against one
// database never collide) with one global number field. Each operation
// saves that field of one of the client's own entities with a value it has
// not held before: exactly one changed key, so one field_value.saved and
// one entity.updated event per save.
func setupSaves(ctx context.Context, c *client) (op, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	group := "bench_" + hex.EncodeToString(b)
	if err := c.postJSON(ctx, "/api/field-groups", map[string]any{"key": group, "name": "Benchmark " + group}, nil); err != nil {
		return nil, fmt.Errorf("create field group: %w", err)
	}
	field := map[string]any{"key": "n", "label": "N", "schema": map[string]any{"type": "number"}, "fieldGroupIds": []string{group}}
	if err := c.postJSON(ctx, "/api/global-fields", field, nil); err != nil {
		return nil, fmt.Errorf("create global field: %w", err)
	}
	prefix := "/api/tenants/" + savesTenant + "/field-groups/" + group + "/entities/"
	return func(ctx context.Context, client, seq int) error {
		path := prefix + "c" + strconv.Itoa(client) + "-" + strconv.Itoa(seq%entitiesPerClient) + "/values"
		body := strconv.AppendInt([]byte(`{"n":`), int64(seq), 10)
		body = append(body, '}')
		return c.do(ctx, http.MethodPost, path, body, nil)
	}, nil
}
