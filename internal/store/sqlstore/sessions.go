package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

func (q *queries) SessionCreate(ctx context.Context, s *store.Session) error {
	_, err := q.exec(ctx, `INSERT INTO sessions (hash, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		s.Hash, s.KeyID, q.t(s.CreatedAt), q.t(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) SessionGetByHash(ctx context.Context, hash string) (*store.Session, error) {
	s := &store.Session{Hash: hash}
	// The join ends every session of a deleted key.
	err := q.queryRow(ctx, `SELECT s.key_id, k.role, k.tenant_id, s.created_at, s.expires_at
		FROM sessions s JOIN api_keys k ON k.id = s.key_id WHERE s.hash = $1`, hash).
		Scan(&s.KeyID, &s.Role, &s.TenantID, scanTime{&s.CreatedAt}, scanTime{&s.ExpiresAt})
	if err != nil {
		return nil, fmt.Errorf("get session: %w", q.interpret(err))
	}
	return s, nil
}

func (q *queries) SessionDelete(ctx context.Context, hash string) error {
	if _, err := q.exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

func (q *queries) SessionDeleteExpired(ctx context.Context, before time.Time) (int, error) {
	res, err := q.exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, q.t(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
