//go:build !unix

package app

// lockDatabase does nothing where flock is missing: fieldflow targets
// Linux, and elsewhere one process per SQLite file is up to the operator.
func lockDatabase(db, path string) (release func() error, err error) {
	return func() error { return nil }, nil
}
