package cache_test

import (
	"fmt"
	"time"

	"github.com/fieldflow/fieldflow/internal/cache"
)

// A Map caches a lookup for a while; a change made here deletes the entry
// so the next lookup sees it at once.
func ExampleMap() {
	schemas := cache.Map[string, []string]{TTL: time.Minute}
	schemas.Set("booking", []string{"insurance_number"})
	fields, ok := schemas.Get("booking")
	fmt.Println(fields, ok)

	schemas.Delete("booking") // the group was edited
	_, ok = schemas.Get("booking")
	fmt.Println(ok)
	// Output:
	// [insurance_number] true
	// false
}
