package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkAPIConcurrentMixed fires 200 mixed calls at once (clean, backup and update of a
// service, clean of a node, the listings, with admin and label tokens) over loopback at a server
// on fake Operations, so that nothing a call waits for is docker or a lock: the time its
// handler runs is the server's own (with the wait for the instant fake operation's goroutine).
// Reports p50 and p99 of that time per call (target p99 ≤ 5 ms, ISSUE 17) and the machine's
// load average: on a shared machine the tail is the process waiting for a CPU.
//
//	go test -run '^$' -bench APIConcurrentMixed ./api/
func BenchmarkAPIConcurrentMixed(b *testing.B) {
	const concurrent = 200
	ops := &fakeOps{}
	srvAPI := New(Options{Ops: ops, Targets: fixtureTargets(), Config: fixtureConfig(), Log: slog.New(slog.DiscardHandler)})
	defer srvAPI.Abort()
	var mu sync.Mutex
	var own []time.Duration
	inner := srvAPI.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inner.ServeHTTP(w, r)
		d := time.Since(start)
		mu.Lock()
		own = append(own, d)
		mu.Unlock()
	}))
	defer srv.Close()
	calls := []struct{ method, path, body, bearer string }{
		{"POST", "/api/clean/service", `{"token":"` + webClean + `","serviceName":"shop_web"}`, ""},
		{"POST", "/api/backup/service", `{"token":"` + webBackup + `","serviceName":"shop_web"}`, ""},
		{"POST", "/api/update/service", `{"token":"` + webUpdate + `","serviceName":"shop_web","image":"registry:5000/shop/web:2.0"}`, ""},
		{"POST", "/api/clean/node", `{"token":"` + adminToken + `","nodeName":"worker-1"}`, ""},
		{"POST", "/api/clean/node", `{"token":"` + workerToken + `","nodeName":"worker-1"}`, ""},
		{"GET", "/api/services", "", adminToken},
		{"GET", "/api/nodes", "", adminToken},
		{"POST", "/api/clean/service", `{"token":"` + dbClean + `","serviceName":"shop_db"}`, ""},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrent, MaxConnsPerHost: concurrent}}
	bad := map[int]int{}
	for b.Loop() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range concurrent {
			c := calls[i%len(calls)]
			wg.Go(func() {
				<-start
				status, _ := send(b, client, srv.URL, c.method, c.path, c.body, c.bearer)
				if status >= 500 || status == http.StatusUnauthorized || status == http.StatusForbidden {
					mu.Lock()
					bad[status]++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
	}
	if len(bad) > 0 {
		b.Errorf("answers by status that should not happen: %v", bad)
	}
	slices.Sort(own)
	q := func(p float64) time.Duration { return own[min(len(own)-1, int(p*float64(len(own))))] }
	b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(q(1).Microseconds())/1000, "max-ms")
	// The tail is mostly this process waiting for a CPU: say how loaded the machine was.
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(la)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				b.ReportMetric(v, "load1")
			}
		}
	}
	if p99 := q(0.99); p99 > 5*time.Millisecond {
		b.Errorf("p99 of the server's own time per call %s, target ≤ 5 ms", p99)
	}
}
