package sqlstore

import (
	"context"
	"encoding/json"
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

const portalCols = `hash, tenant_id, features, theme, created_at, expires_at`

func (q *queries) insertPortal(ctx context.Context, table string, p *store.Portal) error {
	features, err := json.Marshal(p.Features)
	if err != nil {
		return err
	}
	theme := p.Theme
	if len(theme) == 0 {
		theme = json.RawMessage("{}")
	}
	_, err = q.exec(ctx, `INSERT INTO `+table+` (`+portalCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.Hash, p.TenantID, string(features), string(theme), q.t(p.CreatedAt), q.t(p.ExpiresAt))
	return q.interpret(err)
}

func scanPortal(row interface{ Scan(...any) error }) (*store.Portal, error) {
	p := &store.Portal{}
	var features, theme string
	if err := row.Scan(&p.Hash, &p.TenantID, &features, &theme, scanTime{&p.CreatedAt}, scanTime{&p.ExpiresAt}); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(features), &p.Features); err != nil {
		return nil, fmt.Errorf("decode features: %w", err)
	}
	p.Theme = json.RawMessage(theme)
	return p, nil
}

func (q *queries) PortalLinkCreate(ctx context.Context, l *store.Portal) error {
	if err := q.insertPortal(ctx, "portal_links", l); err != nil {
		return fmt.Errorf("create portal link: %w", err)
	}
	return nil
}

func (q *queries) PortalLinkRedeem(ctx context.Context, hash string, now time.Time) (*store.Portal, error) {
	// One statement: of two redeems racing, one deletes the row and the
	// other finds nothing.
	p, err := scanPortal(q.queryRow(ctx, `DELETE FROM portal_links WHERE hash = $1 AND expires_at > $2 RETURNING `+portalCols,
		hash, q.t(now)))
	if err != nil {
		return nil, fmt.Errorf("redeem portal link: %w", q.interpret(err))
	}
	return p, nil
}

func (q *queries) PortalSessionCreate(ctx context.Context, s *store.Portal) error {
	if err := q.insertPortal(ctx, "portal_sessions", s); err != nil {
		return fmt.Errorf("create portal session: %w", err)
	}
	return nil
}

func (q *queries) PortalSessionGetByHash(ctx context.Context, hash string) (*store.Portal, error) {
	p, err := scanPortal(q.queryRow(ctx, `SELECT `+portalCols+` FROM portal_sessions WHERE hash = $1`, hash))
	if err != nil {
		return nil, fmt.Errorf("get portal session: %w", q.interpret(err))
	}
	return p, nil
}

func (q *queries) PortalSessionDelete(ctx context.Context, hash string) error {
	if _, err := q.exec(ctx, `DELETE FROM portal_sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete portal session: %w", err)
	}
	return nil
}

func (q *queries) PortalDeleteExpired(ctx context.Context, before time.Time) (int, error) {
	n := 0
	for _, table := range []string{"portal_links", "portal_sessions"} {
		res, err := q.exec(ctx, `DELETE FROM `+table+` WHERE expires_at < $1`, q.t(before))
		if err != nil {
			return n, fmt.Errorf("delete expired %s: %w", table, err)
		}
		m, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("delete expired %s: %w", table, err)
		}
		n += int(m)
	}
	return n, nil
}
