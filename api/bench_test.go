package api

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/internal/procstat"
	"github.com/swarm-utils/swarm-utils/parse"
)

// BenchmarkConcurrentMaxBodies sends 300 concurrent requests with bodies of exactly
// MaxBodyBytes over loopback and reports the process's peak RSS (server and clients; target
// ≤ 100 MiB) and how many were refused for the in-flight cap.
//
//	go test -bench ConcurrentMaxBodies -run '^$' ./api/
func BenchmarkConcurrentMaxBodies(b *testing.B) {
	const concurrent = 300
	h := &harness{t: &testing.T{}, ops: &fakeOps{}, targets: fixtureTargets()}
	h.server = New(Options{Ops: h.ops, Targets: h.targets, Config: fixtureConfig(), Log: slog.New(slog.DiscardHandler)})
	defer h.server.Abort()
	srv := httptest.NewServer(h.server.Handler())
	defer srv.Close()
	prefix := `{"token":"` + adminToken + `","serviceName":"`
	body := prefix + strings.Repeat("a", MaxBodyBytes-len(prefix)-2) + `"}` // exactly the limit; valid JSON
	if len(body) != MaxBodyBytes {
		b.Fatalf("body of %d bytes", len(body))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrent, MaxConnsPerHost: concurrent}}
	runtime.GC()
	debug.FreeOSMemory()
	before := procstat.MustBytes(b, "VmRSS")
	// "5" resets the peak (VmHWM) to the current RSS; without it the peak covers the whole process.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	var refused, answered atomic.Int64
	for b.Loop() {
		var wg sync.WaitGroup
		for range concurrent {
			wg.Go(func() {
				res, err := client.Post(srv.URL+"/api/clean/service", "application/json", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch res.StatusCode {
				case http.StatusServiceUnavailable:
					refused.Add(1)
				case http.StatusNotFound: // no service has that name
					answered.Add(1)
				default:
					b.Errorf("status %d", res.StatusCode)
				}
			})
		}
		wg.Wait()
	}
	peak := procstat.MustBytes(b, "VmHWM")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(before)/(1<<20), "start-RSS-MiB")
	b.ReportMetric(float64(refused.Load())/float64(b.N*concurrent), "refused/req")
	if peak > 100<<20 {
		b.Errorf("peak RSS %d MiB, target ≤ 100 MiB", peak>>20)
	}
}

// BenchmarkUnauthenticatedRequests sends 1000 requests with unknown tokens over loopback, 50 at
// once, on every guarded route, and reports the docker reads they cost (target: 0 beyond the
// label-token cache's refreshes, one per 3 s) and the time per request.
//
//	go test -bench UnauthenticatedRequests -run '^$' ./api/
func BenchmarkUnauthenticatedRequests(b *testing.B) {
	const requests = 1000
	targets := fixtureTargets()
	srvAPI := New(Options{Ops: &fakeOps{}, Targets: targets, Config: fixtureConfig(), Log: slog.New(slog.DiscardHandler)})
	defer srvAPI.Abort()
	srv := httptest.NewServer(srvAPI.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
	var other atomic.Int64
	for b.Loop() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 50)
		for i := range requests {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				method, path, body, bearer := unauthenticated(i)
				if s, _ := send(b, client, srv.URL, method, path, body, bearer); s != http.StatusUnauthorized {
					other.Add(1)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(targets.docker.Load())/float64(b.N), "docker-reads/1000req")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*requests), "ns/req")
	if other.Load() > 0 {
		b.Errorf("%d answers were not 401", other.Load())
	}
}

// BenchmarkTokenCheck is the cost of refusing one 4 KiB unknown token against 20 admin tokens
// and 300 services' and 10 nodes' label tokens: it is hashed once and compared with
// precomputed digests.
func BenchmarkTokenCheck(b *testing.B) {
	targets := fixtureTargets()
	for i := range 300 {
		targets.services = append(targets.services, parse.Service{Name: fmt.Sprint("svc-", i), Labels: map[string]string{
			authz.LabelCleanToken: fmt.Sprint("clean-", i), authz.LabelBackupToken: fmt.Sprint("backup-", i), authz.LabelUpdateToken: fmt.Sprint("update-", i)}})
	}
	cfg := fixtureConfig()
	for i := range 20 {
		cfg.AdminTokens = append(cfg.AdminTokens, fmt.Sprint("admin-", i))
	}
	a := authz.New(authz.Options{Config: cfg, Targets: targets, Log: slog.New(slog.DiscardHandler)})
	raw := strings.Repeat("t", authz.MaxTokenBytes)
	ctx := b.Context()
	for b.Loop() {
		if _, _, e := a.Service(ctx, authz.NewToken(raw), cleanAction, "shop_web"); e == nil || e.Status != http.StatusUnauthorized {
			b.Fatalf("refusal %v", e)
		}
	}
}
