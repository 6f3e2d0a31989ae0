// Package cache holds Map, the one bounded in-memory cache fieldflow
// keeps lookups in: entries expire after a TTL, and past MaxEntries the
// least recently used go first, so a cache keyed by tenant cannot grow
// without limit. It is modelled on tailscale's util/lru.
package cache

import (
	"container/list"
	"sync"
	"time"
)

// DefaultMaxEntries is the bound of a Map whose MaxEntries is zero.
const DefaultMaxEntries = 10_000

// Map is a bounded cache from K to V whose entries expire. The zero value
// is valid to use: it keeps at most DefaultMaxEntries entries and never
// expires them. A Map is safe for concurrent use and must not be copied
// after first use.
type Map[K comparable, V any] struct {
	// MaxEntries bounds the entries kept; setting one more evicts the
	// least recently used. Zero means DefaultMaxEntries.
	MaxEntries int
	// TTL is how long an entry is served after it was set. Zero means
	// entries do not expire.
	TTL time.Duration
	// Now is the clock entries are stamped and checked with; nil means
	// time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[K]*list.Element // guarded by mu; values are *entry[K, V]
	order   list.List           // guarded by mu; most recently used first
}

type entry[K comparable, V any] struct {
	key K
	val V
	at  time.Time
}

func (m *Map[K, V]) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Get returns the value stored for key, and false when there is none or it
// has expired.
func (m *Map[K, V]) Get(key K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.entries[key]
	if !ok {
		var zero V
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if m.TTL > 0 && m.now().Sub(e.at) >= m.TTL {
		m.removeLocked(el)
		var zero V
		return zero, false
	}
	m.order.MoveToFront(el)
	return e.val, true
}

// Set stores val for key, fresh for TTL from now.
func (m *Map[K, V]) Set(key K, val V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if el, ok := m.entries[key]; ok {
		e := el.Value.(*entry[K, V])
		e.val, e.at = val, now
		m.order.MoveToFront(el)
		return
	}
	if m.entries == nil {
		m.entries = make(map[K]*list.Element)
	}
	m.entries[key] = m.order.PushFront(&entry[K, V]{key: key, val: val, at: now})
	limit := m.MaxEntries
	if limit <= 0 {
		limit = DefaultMaxEntries
	}
	for len(m.entries) > limit {
		m.removeLocked(m.order.Back())
	}
}

// Delete removes key's entry, if any.
func (m *Map[K, V]) Delete(key K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[key]; ok {
		m.removeLocked(el)
	}
}

// Clear removes every entry.
func (m *Map[K, V]) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
	m.order.Init()
}

// Len returns how many entries are kept, expired ones not yet evicted
// included.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func (m *Map[K, V]) removeLocked(el *list.Element) {
	delete(m.entries, el.Value.(*entry[K, V]).key)
	m.order.Remove(el)
}
