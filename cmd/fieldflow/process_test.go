package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildBinary builds the fieldflow command into a temp dir and returns its
// path.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fieldflow")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// serverOptions describes one `fieldflow serve` process.
type serverOptions struct {
	// Bin is the fieldflow binary.
	Bin string
	// DB is a SQLite path or a postgres:// URL.
	DB string
	// AdminKey, when set, is passed as FIELDFLOW_ADMIN_KEY; without it the
	// first start generates one and prints it.
	AdminKey string
	// MasterKey, when set, is passed as FIELDFLOW_MASTER_KEY.
	MasterKey string
	// Env adds KEY=value variables.
	Env []string
	// Dir is the working directory; empty means a new t.TempDir().
	Dir string
	// Credential, when set, runs the process as that user.
	Credential *syscall.Credential
}

// serverProcess is a running `fieldflow serve`.
type serverProcess struct {
	URL    string
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
}

// startServer starts `fieldflow serve` on a free 127.0.0.1 port and waits
// until /readyz answers. The process is killed when the test ends.
func startServer(t *testing.T, opts serverOptions) *serverProcess {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(opts.Bin, "serve")
	cmd.Dir = opts.Dir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
	if opts.Credential != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: opts.Credential}
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDFLOW_") {
			env = append(env, kv)
		}
	}
	env = append(env, "FIELDFLOW_ADDR="+addr, "FIELDFLOW_DB="+opts.DB)
	if opts.AdminKey != "" {
		env = append(env, "FIELDFLOW_ADMIN_KEY="+opts.AdminKey)
	}
	// The crash tests send bursts far above one key's default rate limit;
	// opts.Env, appended later, may set another.
	env = append(env, "FIELDFLOW_RATE_LIMIT=off")
	if opts.MasterKey != "" {
		env = append(env, "FIELDFLOW_MASTER_KEY="+opts.MasterKey)
	}
	env = append(env, opts.Env...)
	cmd.Env = env
	p := &serverProcess{URL: "http://" + addr, cmd: cmd, output: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Kill(t)
		if t.Failed() {
			t.Logf("output of fieldflow serve (%s):\n%s", opts.DB, p.output.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("fieldflow serve exited before it was ready:\n%s", p.output.String())
		default:
		}
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fieldflow serve not ready after 15s (last error %v):\n%s", err, p.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits for the process to be gone. It tolerates a
// process that has already exited.
func (p *serverProcess) Kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("fieldflow serve still running 10s after SIGKILL")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// apiClient calls a server's API with an admin key.
type apiClient struct {
	http *http.Client
	base string
	key  string
}

func newAPIClient(base, key string, conns int) *apiClient {
	return &apiClient{
		http: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}},
		base: base,
		key:  key,
	}
}

// do sends body (nil for none) and decodes the answer into out when it is
// not nil. It returns the status; err is a transport or decoding error.
func (c *apiClient) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-API-Key", c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %s: %w", method, path, b, err)
		}
	}
	return resp.StatusCode, nil
}

// must calls do and fails the test on anything but a 2xx.
func (c *apiClient) must(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	_, err := c.do(context.Background(), method, path, body, out)
	require.NoError(t, err)
}
