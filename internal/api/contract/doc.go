// Package contract holds the HTTP contract of the domain's request and
// response types: their limits, enums, examples and descriptions, as the
// struct tags the OpenAPI document and request validation are made from.
//
// The domain packages (fields, records, webhooks, automations) keep plain
// types with json tags only. Each type here is a twin of one of them, with
// the same name, fields, Go types and json tags, and the schema tags on
// top; the api package registers every twin as the schema of its domain
// type. A test keeps each twin's fields equal to its domain type's, so a
// field added on one side and not the other fails at once.
package contract

import "reflect"

// Twin pairs a domain type with the tagged type its schema is made from.
type Twin struct {
	Domain, Schema reflect.Type
}
