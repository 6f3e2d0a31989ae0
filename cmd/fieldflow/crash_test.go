package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

const (
	crashTenant  = "crash"
	crashGroup   = "crash_test"
	crashClients = 32
	// crashEntities is how many entities each client cycles through; save
	// number seq of a client goes to its entity seq % crashEntities, with
	// value seq, so every save changes one key and values only grow.
	crashEntities = 4
	// crashAcks is how many saves must have been answered before the kill,
	// so that it lands in the middle of a running burst.
	crashAcks = 1000
)

// crashAck is one save answered with 2xx.
type crashAck struct {
	entity  string
	value   int64
	version int64
}

// TestCrashRecovery kills `fieldflow serve` with SIGKILL in the middle of a
// burst of concurrent value saves, restarts it on the same database and
// checks the transactional outbox promise both ways: every save answered
// 2xx is stored with its field_value.saved and entity.updated events, and
// no event exists for a save that is not stored.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs a burst against each database; skipped with -short")
	}

	type testBundle struct {
		opts serverOptions
	}
	bin := buildBinary(t)
	setup := func(t *testing.T, dialect string) *testBundle {
		t.Helper()
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		opts := serverOptions{Bin: bin, DB: storetest.DSN(t, dialect), AdminKey: "ffk_crash_" + base64.RawURLEncoding.EncodeToString(key[:16])}
		if dialect == "postgres" {
			opts.MasterKey = base64.StdEncoding.EncodeToString(key)
		}
		return &testBundle{opts: opts}
	}

	// The dialects run one after the other: the burst needs the CPUs.
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			bundle := setup(t, dialect)
			start := time.Now()

			srv := startServer(t, bundle.opts)
			c := newAPIClient(srv.URL, bundle.opts.AdminKey, crashClients)
			var group struct{ ID string }
			c.must(t, http.MethodPost, "/api/field-groups", map[string]any{"key": crashGroup, "name": "Crash test"}, &group)
			c.must(t, http.MethodPost, "/api/global-fields", map[string]any{"key": "n", "label": "N",
				"schema": map[string]any{"type": "number"}, "fieldGroupIds": []string{group.ID}}, nil)

			acks, sent := crashBurst(t, c, srv)
			killedAfter := time.Since(start)

			srv = startServer(t, bundle.opts)
			c = newAPIClient(srv.URL, bundle.opts.AdminKey, 8)
			verifyAfterCrash(t, c, acks, sent)

			// The recovered database takes new writes.
			entity := crashEntity(0, 0)
			var before, after struct{ Version int64 }
			c.must(t, http.MethodGet, valuesPath(entity), nil, &before)
			c.must(t, http.MethodPost, valuesPath(entity), map[string]any{"n": -1}, &after)
			require.Equal(t, before.Version+1, after.Version)

			n := 0
			for _, a := range acks {
				n += len(a)
			}
			t.Logf("%s: %d saves answered before SIGKILL at %s; whole run %s",
				dialect, n, killedAfter.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		})
	}
}

func crashEntity(client int, seq int64) string {
	return fmt.Sprintf("c%02d-e%d", client, seq%crashEntities)
}

func valuesPath(entity string) string {
	return "/api/tenants/" + crashTenant + "/field-groups/" + crashGroup + "/entities/" + entity + "/values"
}

// crashBurst runs crashClients clients that save until the server dies, and
// kills it with SIGKILL once crashAcks saves have been answered. It returns
// each client's answered saves and the last value each client sent.
func crashBurst(t *testing.T, c *apiClient, srv *serverProcess) (acks [][]crashAck, sent []int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acks = make([][]crashAck, crashClients)
	sent = make([]int64, crashClients)
	failures := make([]error, crashClients)
	var answered atomic.Int64
	enough := make(chan struct{})
	var enoughOnce sync.Once
	var wg sync.WaitGroup
	for i := range crashClients {
		wg.Go(func() {
			for seq := int64(1); ctx.Err() == nil; seq++ {
				entity := crashEntity(i, seq)
				sent[i] = seq
				var res struct {
					Data    map[string]int64 `json:"data"`
					Version int64            `json:"version"`
				}
				status, err := c.do(ctx, http.MethodPost, valuesPath(entity), map[string]any{"n": seq}, &res)
				switch {
				case status == 0 && err != nil:
					return // the server is gone: this save's outcome is unknown
				case err != nil:
					failures[i] = err
					return
				case res.Data["n"] != seq:
					failures[i] = fmt.Errorf("save %s n=%d answered %v", entity, seq, res)
					return
				}
				acks[i] = append(acks[i], crashAck{entity: entity, value: seq, version: res.Version})
				if answered.Add(1) == crashAcks {
					enoughOnce.Do(func() { close(enough) })
				}
			}
		})
	}
	select {
	case <-enough:
	case <-ctx.Done():
	}
	srv.Kill(t)
	wg.Wait()
	for i, err := range failures {
		require.NoError(t, err, "client %d", i)
	}
	require.GreaterOrEqual(t, answered.Load(), int64(crashAcks), "the burst did not reach %d answered saves before its deadline", crashAcks)
	return acks, sent
}

// crashEvent is the part of a value event payload the check reads.
type crashEvent struct {
	ID      string
	Type    string
	Entity  string
	Value   int64
	Version int64
	// Values is entity.updated's values after the save.
	Values map[string]int64
}

func verifyAfterCrash(t *testing.T, c *apiClient, acks [][]crashAck, sent []int64) {
	t.Helper()
	// What is stored, for every entity any client may have written.
	type stored struct{ value, version int64 }
	state := map[string]stored{}
	for i := range crashClients {
		for k := range int64(crashEntities) {
			entity := crashEntity(i, k)
			var res struct {
				Data    map[string]int64 `json:"data"`
				Version int64            `json:"version"`
			}
			c.must(t, http.MethodGet, valuesPath(entity), nil, &res)
			n, ok := res.Data["n"]
			require.Equal(t, ok, res.Version > 0, "%s: a value iff a version: %+v", entity, res)
			if ok {
				require.Equal(t, k, n%crashEntities, "%s holds %d, a value no client sent to it", entity, n)
				require.LessOrEqual(t, n, sent[i], "%s holds %d, beyond the last value its client sent", entity, n)
			}
			state[entity] = stored{value: n, version: res.Version}
		}
	}

	saved := listCrashEvents(t, c, "field_value.saved")
	updated := listCrashEvents(t, c, "entity.updated")
	savedValues := map[string]map[int64]bool{}
	for _, ev := range saved {
		st, ok := state[ev.Entity]
		require.True(t, ok, "event %s for unknown entity %q", ev.ID, ev.Entity)
		require.LessOrEqual(t, ev.Value, st.value, "event %s: %s saved %d but %d is stored: an event without its save", ev.ID, ev.Entity, ev.Value, st.value)
		if savedValues[ev.Entity] == nil {
			savedValues[ev.Entity] = map[int64]bool{}
		}
		require.False(t, savedValues[ev.Entity][ev.Value], "event %s: a second field_value.saved for %s = %d", ev.ID, ev.Entity, ev.Value)
		savedValues[ev.Entity][ev.Value] = true
	}
	versions := map[string]map[int64]int64{} // entity → version → n
	for _, ev := range updated {
		st, ok := state[ev.Entity]
		require.True(t, ok, "event %s for unknown entity %q", ev.ID, ev.Entity)
		require.LessOrEqual(t, ev.Version, st.version, "event %s: %s version %d but version %d is stored: an event without its save", ev.ID, ev.Entity, ev.Version, st.version)
		if versions[ev.Entity] == nil {
			versions[ev.Entity] = map[int64]int64{}
		}
		_, dup := versions[ev.Entity][ev.Version]
		require.False(t, dup, "event %s: a second entity.updated for %s version %d", ev.ID, ev.Entity, ev.Version)
		versions[ev.Entity][ev.Version] = ev.Values["n"]
	}

	// Every committed version has exactly its two events: versions 1..v
	// each with one entity.updated and one field_value.saved, the last one
	// showing the stored value.
	for entity, st := range state {
		require.Len(t, versions[entity], int(st.version), "%s is at version %d: entity.updated events", entity, st.version)
		require.Len(t, savedValues[entity], int(st.version), "%s is at version %d: field_value.saved events", entity, st.version)
		if st.version > 0 {
			require.Equal(t, st.value, versions[entity][st.version], "%s: entity.updated of the stored version", entity)
			require.True(t, savedValues[entity][st.value], "%s: field_value.saved of the stored value %d", entity, st.value)
		}
	}

	// Every answered save is stored (or overtaken by a later save of the
	// same client) and has its events.
	for i := range crashClients {
		for _, a := range acks[i] {
			st := state[a.entity]
			require.GreaterOrEqual(t, st.value, a.value, "client %d: save %s = %d was answered but %d is stored", i, a.entity, a.value, st.value)
			require.GreaterOrEqual(t, st.version, a.version, "client %d: save %s version %d was answered but version %d is stored", i, a.entity, a.version, st.version)
			require.True(t, savedValues[a.entity][a.value], "client %d: answered save %s = %d has no field_value.saved event", i, a.entity, a.value)
			n, ok := versions[a.entity][a.version]
			require.True(t, ok, "client %d: answered save %s version %d has no entity.updated event", i, a.entity, a.version)
			require.Equal(t, a.value, n, "client %d: entity.updated of %s version %d", i, a.entity, a.version)
		}
	}
}

// listCrashEvents reads every event of the type for the crash tenant,
// following the cursor.
func listCrashEvents(t *testing.T, c *apiClient, typ string) []crashEvent {
	t.Helper()
	var out []crashEvent
	seen := map[string]bool{}
	cursor := ""
	for {
		q := url.Values{"type": {typ}, "tenantId": {crashTenant}, "pageSize": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Data []struct {
				ID      string          `json:"id"`
				Type    string          `json:"type"`
				Payload json.RawMessage `json:"payload"`
			} `json:"data"`
			NextCursor string `json:"nextCursor"`
		}
		c.must(t, http.MethodGet, "/api/events?"+q.Encode(), nil, &page)
		for _, e := range page.Data {
			require.Equal(t, typ, e.Type)
			require.False(t, seen[e.ID], "event %s listed twice", e.ID)
			seen[e.ID] = true
			var p struct {
				EntityID string           `json:"entityId"`
				FieldKey string           `json:"fieldKey"`
				Value    *int64           `json:"value"`
				Version  int64            `json:"version"`
				Values   map[string]int64 `json:"values"`
			}
			require.NoError(t, json.Unmarshal(e.Payload, &p), "event %s payload %s", e.ID, e.Payload)
			ev := crashEvent{ID: e.ID, Type: e.Type, Entity: p.EntityID, Version: p.Version, Values: p.Values}
			if typ == "field_value.saved" {
				require.Equal(t, "n", p.FieldKey, "event %s", e.ID)
				require.NotNil(t, p.Value, "event %s has no value: %s", e.ID, e.Payload)
				ev.Value = *p.Value
			}
			out = append(out, ev)
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}
