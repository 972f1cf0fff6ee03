// Command uploader-standin is a TEST STAND-IN for offen/docker-volume-backup,
// not offen itself. It is installed as /usr/bin/backup in a test image that
// swarm-utils' integration tests run as the backup helper, because offen's
// image cannot be pulled in the test environment. It runs one backup and
// exits: 0 on success (or when no storage is configured), 1 on any error.
// The logic lives in internal/uploaderstandin.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/uploaderstandin"
)

func main() {
	// offen logs with slog's text handler to stdout: time=... level=INFO msg="..."
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := uploaderstandin.ConfigFromLookup(os.LookupEnv)
	if err == nil {
		err = uploaderstandin.Run(ctx, cfg, log, time.Now())
	}
	if err != nil {
		log.Error(fmt.Sprintf("Fatal error running command: %v", err))
		fmt.Fprintf(os.Stderr, "backup: %v\n", err)
		stop()
		os.Exit(1)
	}
	log.Info("Finished running backup tasks.")
}
