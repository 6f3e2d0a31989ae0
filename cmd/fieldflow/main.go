// Command fieldflow runs the fieldflow server and its tools. It parses
// flags and FIELDFLOW_* variables and hands off to internal/app.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fieldflow:", err)
		os.Exit(1)
	}
}
