package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// TestBenchCommand runs a short `fieldflow bench` on an in-process server
// over each database.
func TestBenchCommand(t *testing.T) {
	t.Parallel()

	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			args := []string{"--duration", "300ms", "--warmup", "0", "--clients", "4"}
			if dialect == "postgres" {
				args = append(args, "--db", storetest.DSN(t, dialect))
			}
			require.NoError(t, runBench(context.Background(), args))
		})
	}

	t.Run("RefusesDBWithURL", func(t *testing.T) {
		t.Parallel()
		err := runBench(context.Background(), []string{"--url", "http://127.0.0.1:1", "--db", "postgres://x"})
		require.ErrorContains(t, err, "exclude each other")
	})
}
