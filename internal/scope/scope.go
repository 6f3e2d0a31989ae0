// Package scope says whose rows a request may touch. Every service method
// that reads or writes tenant-owned rows takes a Scope right after its
// context and enforces it there, so that a new route cannot forget to.
package scope

import "errors"

// Why a scope refused; the API answers each with its own status.
var (
	// ErrOtherTenant means a tenant scope was asked to act for another
	// tenant (a 403: the path or body named the tenant).
	ErrOtherTenant = errors.New("this key belongs to another tenant")
	// ErrAdminOnly means a tenant scope was asked for a vendor-wide change.
	ErrAdminOnly = errors.New("this operation needs an admin key")
	// ErrNone means the zero Scope was used: a caller forgot to make one.
	ErrNone = errors.New("scope: no scope given")
)

// Scope is the set of tenants a caller may act for. Make one with Admin or
// Tenant; the zero value allows nothing, so a forgotten scope fails closed.
type Scope struct {
	kind     kind
	tenantID string
}

type kind uint8

const (
	none kind = iota
	admin
	tenant
)

// Admin is the scope of an admin key: every tenant and the vendor's own
// rows.
func Admin() Scope { return Scope{kind: admin} }

// Tenant is the scope of a key of one tenant: that tenant's rows only.
func Tenant(id string) Scope { return Scope{kind: tenant, tenantID: id} }

// IsAdmin reports whether the scope is Admin.
func (s Scope) IsAdmin() bool { return s.kind == admin }

// TenantID returns the tenant of a Tenant scope; ok is false for Admin and
// for the zero Scope.
func (s Scope) TenantID() (id string, ok bool) { return s.tenantID, s.kind == tenant }

// Allows reports whether the scope may see a row owned by ownerTenantID
// ("" for the vendor's own rows).
func (s Scope) Allows(ownerTenantID string) bool {
	switch s.kind {
	case admin:
		return true
	case tenant:
		return ownerTenantID == s.tenantID
	}
	return false
}

// Check refuses acting for a tenant named by the caller (in a path or a
// body) that the scope does not allow.
func (s Scope) Check(tenantID string) error {
	switch {
	case s.kind == none:
		return ErrNone
	case !s.Allows(tenantID):
		return ErrOtherTenant
	}
	return nil
}

// CheckAdmin refuses a vendor-wide change to any but the Admin scope.
func (s Scope) CheckAdmin() error {
	switch s.kind {
	case none:
		return ErrNone
	case tenant:
		return ErrAdminOnly
	}
	return nil
}

// CheckRead refuses reading vendor-wide rows (field groups, global fields)
// to the zero Scope only: every key may read them.
func (s Scope) CheckRead() error {
	if s.kind == none {
		return ErrNone
	}
	return nil
}

// Claim returns the owner of a row being created, given the tenant the
// caller asked for (nil for none): a Tenant scope defaults to, and may
// only ask for, its own tenant; Admin creates what it asks for, nil being
// the vendor's own row.
func (s Scope) Claim(requested *string) (*string, error) {
	switch s.kind {
	case none:
		return nil, ErrNone
	case tenant:
		if requested == nil {
			id := s.tenantID
			return &id, nil
		}
		if *requested != s.tenantID {
			return nil, ErrOtherTenant
		}
	}
	return requested, nil
}

// Filter narrows a list to the tenant the caller asked for ("" for all):
// a Tenant scope lists its own tenant only, and may ask for no other; nil
// means every tenant's rows.
func (s Scope) Filter(requested string) (*string, error) {
	switch s.kind {
	case none:
		return nil, ErrNone
	case tenant:
		if requested != "" && requested != s.tenantID {
			return nil, ErrOtherTenant
		}
		id := s.tenantID
		return &id, nil
	}
	if requested == "" {
		return nil, nil
	}
	return &requested, nil
}
