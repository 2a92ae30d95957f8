// Command bulkrevoke revokes OAuth access tokens in bulk. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bulkrevoke/bulkrevoke/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM stops the run gently: no new requests,
	// in-flight ones finish and are recorded. A second one exits at once;
	// every recorded row is already in the outcome file. The cancellation's
	// cause names the signal, so that the run can say what stopped it.
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		cancel(cli.Interrupted(<-signals))
		<-signals
		os.Exit(cli.ExitStopped)
	}()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
