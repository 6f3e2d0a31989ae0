//go:build unix

package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// lockDatabase holds an exclusive lock on path (the lock file beside a
// SQLite database) until release is called or the process ends. The lock
// file says who holds it, so that a refused start can name the process.
// The file is left in place: removing it would let a third process lock a
// new file while a second still holds the old one.
func lockDatabase(db, path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 512))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := string(bytes.TrimSpace(holder))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("%w: %s is held by %s (lock file %s); stop it first, or use PostgreSQL to run several processes",
				ErrDatabaseInUse, db, who, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	who := fmt.Sprintf("pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(who), 0)
	}
	return func() error {
		_ = f.Truncate(0)
		return f.Close() // closing the last descriptor releases the lock
	}, nil
}
