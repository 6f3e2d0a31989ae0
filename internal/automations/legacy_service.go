//go:build !automations_wip

package automations

import (
	"time"

	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Config configures the Service.
type Config struct {
	Store store.Store
	// Box seals secrets at rest.
	Box *secretbox.Box
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// Service manages automation settings.
type Service struct {
	store store.Store
	box   *secretbox.Box
	now   func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, box: cfg.Box, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

