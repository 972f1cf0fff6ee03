//go:build integration

package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs"
)

// countingRunner counts the docker processes started through it.
type countingRunner struct {
	inner   bashexec.Runner
	started atomic.Int64
}

func (c *countingRunner) Run(ctx context.Context, cmd bashexec.Command) (bashexec.Result, error) {
	c.started.Add(1)
	return c.inner.Run(ctx, cmd)
}

// TestAPIUnauthenticatedRequestsStartNoDockerOnTheCluster: over real dependencies, 1000
// requests with unknown tokens on every guarded route are 401 and start no docker process
// beyond the one read of the label-token cache (the clock is frozen, so it never expires);
// with docker unreachable they are still 401 and tell nothing about docker.
func TestAPIUnauthenticatedRequestsStartNoDockerOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	frozen := time.Now()
	for _, tt := range []struct {
		name       string
		dockerDown bool
	}{{name: "docker up"}, {name: "docker unreachable", dockerDown: true}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tb.Config()
			cfg.AdminTokens = []string{itAdmin}
			if tt.dockerDown {
				cfg.DockerHost = "unix:///nonexistent/it-api-docker.sock"
			}
			rec := &testbed.Recorder{}
			log := slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
			secrets := bashexec.NewSecrets(cfg.SecretValues()...)
			runner := &countingRunner{inner: bashexec.New(bashexec.Options{Logger: log, Secrets: secrets})}
			deps := jobs.NewDeps(cfg, runner, secrets, log)
			srv := New(Options{Ops: deps, Targets: deps, Config: cfg, Log: log, Secrets: secrets, Now: func() time.Time { return frozen }})
			defer srv.Abort()
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()

			// The first request fills the cache: what one refresh costs.
			method, path, body, bearer := unauthenticated(0)
			if s, b := send(t, hs.Client(), hs.URL, method, path, body, bearer); s != http.StatusUnauthorized {
				t.Fatalf("first request: %d %s", s, b)
			}
			refresh := runner.started.Load()
			if refresh == 0 {
				t.Fatal("the first request read no labels: the test measures nothing")
			}
			var wg sync.WaitGroup
			sem := make(chan struct{}, 50)
			var wrong atomic.Int64
			for i := range 1000 {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					method, path, body, bearer := unauthenticated(i)
					s, b := send(t, hs.Client(), hs.URL, method, path, body, bearer)
					for _, leak := range []string{"DOCKER_HOST", "nonexistent", "docker service", "exit code"} {
						if strings.Contains(b, leak) {
							t.Errorf("%s %s: the answer tells %q: %s", method, path, leak, b)
						}
					}
					if s != http.StatusUnauthorized {
						wrong.Add(1)
					}
				})
			}
			wg.Wait()
			if wrong.Load() > 0 {
				t.Errorf("%d of 1000 answers were not 401", wrong.Load())
			}
			if n := runner.started.Load() - refresh; n != 0 {
				t.Errorf("1000 unauthenticated requests started %d docker processes beyond the cache's one refresh (%d)", n, refresh)
			}
			t.Logf("%s: one refresh of the label-token cache: %d docker processes; 1000 unauthenticated requests: %d more",
				tt.name, refresh, runner.started.Load()-refresh)
		})
	}
}
