package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// vmBytes reads a VmRSS or VmHWM line of /proc/self/status, in bytes.
func vmBytes(b *testing.B, field string) int64 {
	b.Helper()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range bytes.Lines(st) {
		if v, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			kib, err := strconv.ParseInt(string(bytes.Fields(v)[0]), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

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
	before := vmBytes(b, "VmRSS")
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
	peak := vmBytes(b, "VmHWM")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(before)/(1<<20), "start-RSS-MiB")
	b.ReportMetric(float64(refused.Load())/float64(b.N*concurrent), "refused/req")
	if peak > 100<<20 {
		b.Errorf("peak RSS %d MiB, target ≤ 100 MiB", peak>>20)
	}
}
