package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCommandLine proves the command line an operator meets first, on a
// binary stamped as a release script stamps it.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	// The binary is the release script's own output: static, stripped and
	// stamped, as the release binaries and the container image are.
	outDir := t.TempDir()
	build := exec.Command("bash", filepath.Join("..", "..", "deploy", "build-release"))
	build.Env = append(os.Environ(), "VERSION=v9.8.7", "COMMIT=0123456789abcdef0123",
		"TARGETS="+runtime.GOOS+"/"+runtime.GOARCH, "OUT="+outDir)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "deploy/build-release: %s", out)
	bin := filepath.Join(outDir, "fieldflow_v9.8.7_"+runtime.GOOS+"_"+runtime.GOARCH)
	require.FileExists(t, filepath.Join(outDir, "fieldflow_v9.8.7_SHA256SUMS"))

	t.Run("TheReleaseBinaryLinksNothing", func(t *testing.T) {
		t.Parallel()
		if runtime.GOOS != "linux" {
			t.Skip("the ELF check is for linux")
		}
		f, err := elf.Open(bin)
		require.NoError(t, err)
		defer f.Close()
		for _, p := range f.Progs {
			require.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no dynamic loader")
		}
		libs, err := f.ImportedLibraries()
		require.NoError(t, err)
		require.Empty(t, libs, "a static binary needs no shared library (the image's base has none)")
	})

	t.Run("ServesAsTheImageRunsIt", func(t *testing.T) {
		t.Parallel()
		serveAsTheImage(t, bin)
	})

	t.Run("HelpExitsZeroAndListsOnlyTheCommandsOwnFlags", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			args      []string
			has, lack []string
		}{
			{[]string{"serve", "--help"}, []string{"-addr", "-db", "-role", "-log-format", "FIELDFLOW_RATE_LIMIT"}, nil},
			{[]string{"migrate", "-h"}, []string{"-db", "-log-level"}, []string{"-addr", "-role", "FIELDFLOW_RATE_LIMIT"}},
			{[]string{"keys", "create", "--help"}, []string{"-tenant", "-expires", "-db"}, []string{"-addr", "-log-format"}},
			{[]string{"keys", "revoke", "--help"}, []string{"-db"}, []string{"-tenant", "-addr"}},
			{[]string{"rotate-master-key", "--help"}, []string{"-new-key-file", "-master-key-file"}, []string{"-addr"}},
			{[]string{"--help"}, []string{"fieldflow serve", "fieldflow keys create"}, nil},
		}
		for _, c := range cases {
			out, err := runCommand(t, bin, nil, c.args...)
			require.NoError(t, err, "%v exits 0: %s", c.args, out)
			for _, s := range c.has {
				require.Contains(t, out, s, "%v", c.args)
			}
			for _, s := range c.lack {
				require.NotContains(t, out, s, "%v lists only its own flags", c.args)
			}
		}
		out, err := runCommand(t, bin, nil, "serve", "--no-such-flag")
		require.Error(t, err, "an unknown flag fails: %s", out)
		require.Contains(t, out, "no-such-flag")
	})

	t.Run("VersionPrintsTheStampedVersionAndCommit", func(t *testing.T) {
		t.Parallel()
		for _, arg := range []string{"version", "--version"} {
			out, err := runCommand(t, bin, nil, arg)
			require.NoError(t, err, out)
			require.Regexp(t, `^fieldflow v9\.8\.7 \(commit 0123456789ab\) go1\.`, out)
		}
	})

	t.Run("AnUnknownDatabaseSchemeIsRefusedNotTakenForAFile", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0"}, {"migrate"}, {"keys", "list"}} {
			cmd := exec.Command(bin, append(args, "--db", "mysql://root:hunter2@127.0.0.1/app")...)
			cmd.Dir = t.TempDir()
			cmd.Env = withoutFieldflowEnv()
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "%v: %s", args, out)
			require.Contains(t, string(out), `unknown scheme "mysql://"`)
			require.NotContains(t, string(out), "hunter2", "the password is not shown")
			entries, err := os.ReadDir(cmd.Dir)
			require.NoError(t, err)
			require.Empty(t, entries, "%v created nothing", args)
		}
	})

	t.Run("AMissingDirectoryIsNamedAsTheDatabases", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "no", "such")
		out, err := runCommand(t, bin, []string{"FIELDFLOW_DB=" + filepath.Join(dir, "ff.db"), "FIELDFLOW_ADDR=127.0.0.1:0"}, "serve")
		require.Error(t, err, out)
		require.Contains(t, out, `the database's directory "`+dir+`" does not exist`)
		require.NoDirExists(t, dir)
	})

	t.Run("ABusyPortStopsTheStartBeforeADatabaseOrKeyIsMade", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		db := filepath.Join(t.TempDir(), "ff.db")
		out, err := runCommand(t, bin, []string{"FIELDFLOW_DB=" + db, "FIELDFLOW_ADDR=" + ln.Addr().String()}, "serve")
		require.Error(t, err, out)
		require.Contains(t, out, "listen on "+ln.Addr().String())
		require.NotContains(t, out, "admin API key", "no key is printed that no server would accept")
		require.NoFileExists(t, db)
		require.NoFileExists(t, db+".key")
	})

	t.Run("JSONLogsAreOneObjectPerLine", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin, "serve", "--log-format", "json", "--log-level", "debug",
			"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "ff.db"))
		cmd.Env = append(withoutFieldflowEnv(), "FIELDFLOW_ADMIN_KEY=ffk_cli_json_logs_admin_key")
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				require.True(t, ok, "serve exited before it logged that it listens")
				var rec map[string]any
				require.NoError(t, json.Unmarshal([]byte(line), &rec), "a JSON object: %s", line)
				require.Contains(t, rec, "level")
				if rec["msg"] == "fieldflow listening" {
					require.True(t, strings.HasPrefix(rec["addr"].(string), "127.0.0.1:"), "%v", rec)
					return
				}
			case <-deadline:
				t.Fatal("no 'fieldflow listening' line within 20 s")
			}
		}
	})

	t.Run("ABadLogSettingIsRefused", func(t *testing.T) {
		t.Parallel()
		out, err := runCommand(t, bin, []string{"FIELDFLOW_LOG_FORMAT=xml"}, "serve")
		require.Error(t, err, out)
		require.Contains(t, out, `FIELDFLOW_LOG_FORMAT="xml": want text or json`)
	})
}

func withoutFieldflowEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDFLOW_") {
			env = append(env, kv)
		}
	}
	return env
}

// imageUID is the user the Dockerfile's distroless nonroot base runs as.
const imageUID = 65532

// serveAsTheImage runs bin the way the Dockerfile's image does: as the
// image's non-root user when the test may switch to it, with the SQLite
// database and its key file in a data directory only that user may write
// (the image's /data volume), listening on FIELDFLOW_ADDR.
func serveAsTheImage(t *testing.T, bin string) {
	t.Helper()
	// t.TempDir is private to the test's user; the image's user must reach
	// the binary and own its data directory.
	root, err := os.MkdirTemp("", "fieldflow-image-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	require.NoError(t, os.Chmod(root, 0o755))
	imageBin := filepath.Join(root, "fieldflow")
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(imageBin, b, 0o755))
	data := filepath.Join(root, "data")
	require.NoError(t, os.Mkdir(data, 0o700))

	opts := serverOptions{Bin: imageBin, DB: filepath.Join(data, "fieldflow.db"), Dir: root}
	uid := os.Geteuid()
	if uid == 0 {
		require.NoError(t, os.Chown(data, imageUID, imageUID))
		opts.Credential = &syscall.Credential{Uid: imageUID, Gid: imageUID}
		uid = imageUID
	}
	srv := startServer(t, opts)
	require.Contains(t, srv.output.String(), "admin API key", "the first start prints its admin key")
	for _, name := range []string{"fieldflow.db", "fieldflow.db.key"} {
		fi, err := os.Stat(filepath.Join(data, name))
		require.NoError(t, err, "%s is in the data directory", name)
		st, ok := fi.Sys().(*syscall.Stat_t)
		require.True(t, ok)
		require.Equal(t, uint32(uid), st.Uid, "%s belongs to the user the server runs as", name)
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Len(t, entries, 2, "nothing is written outside the data directory: %v", entries)
}
