package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

	t.Run("RefusesSpawnWithURL", func(t *testing.T) {
		t.Parallel()
		err := runBench(context.Background(), []string{"--url", "http://127.0.0.1:1", "--spawn"})
		require.ErrorContains(t, err, "exclude each other")
	})

	t.Run("RefusesDBWithURL", func(t *testing.T) {
		t.Parallel()
		err := runBench(context.Background(), []string{"--url", "http://127.0.0.1:1", "--db", "postgres://x"})
		require.ErrorContains(t, err, "exclude each other")
	})
}

// TestBenchSpawnMeasuresAServerFromOutside runs `fieldflow bench --spawn`
// against a real `fieldflow serve` child on each database: it prints the
// loopback limit of the same run, the server's CPU per delivered event,
// its backlog and peak RSS, and fetches a CPU profile of the server.
func TestBenchSpawnMeasuresAServerFromOutside(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			prof := filepath.Join(t.TempDir(), "server.prof")
			args := []string{"--spawn", "--scenario", "events", "--duration", "1s", "--warmup", "0", "--loopback", "300ms",
				"--clients", "4", "--server-cpuprofile", prof}
			if dialect == "postgres" {
				args = append(args, "--db", storetest.DSN(t, dialect))
			}
			var out strings.Builder
			require.NoError(t, runBenchWith(context.Background(), &out, args, func() (string, error) { return bin, nil }))
			text := out.String()
			for _, want := range []string{"fieldflow serve (pid ", "loopback limit: ", "% of the loopback limit",
				"backlog at its end: ", "server CPU per delivered event: ", "peak RSS of the server: ", "lost: 0, duplicates: 0"} {
				require.Contains(t, text, want, text)
			}
			if dialect == "postgres" {
				require.Contains(t, text, "in this machine's postgres processes", text)
			}
			st, err := os.Stat(prof)
			require.NoError(t, err, text)
			require.Positive(t, st.Size(), "the server's CPU profile")
		})
	}
}
