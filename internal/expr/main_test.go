package expr_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: a
// worker, timer or server left running is a leak in production too.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
