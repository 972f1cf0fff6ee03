// Command swarm-utils maintains a Docker Swarm cluster: node and service cleaning, volume
// backups to S3 and service updates, from the command line, cron or an HTTP API.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/swarm-utils/swarm-utils/cli"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.New(version).Run(ctx, os.Args)
	stop()
	if err != nil {
		slog.Error("swarm-utils failed", "err", err)
		os.Exit(1)
	}
}
