package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
)

// benchCall is one call of the mixed load: admin and label tokens, the operations (waitRes
// true) and the listings.
type benchCall struct{ name, method, path, body, bearer string }

var mixedCalls = []benchCall{
	{"clean-service", "POST", "/api/clean/service", `{"token":"` + webClean + `","serviceName":"shop_web"}`, ""},
	{"backup-service", "POST", "/api/backup/service", `{"token":"` + webBackup + `","serviceName":"shop_web"}`, ""},
	{"update-service", "POST", "/api/update/service", `{"token":"` + webUpdate + `","serviceName":"shop_web","image":"registry:5000/shop/web:2.0"}`, ""},
	{"clean-node-admin", "POST", "/api/clean/node", `{"token":"` + adminToken + `","nodeName":"worker-1"}`, ""},
	{"clean-node", "POST", "/api/clean/node", `{"token":"` + workerToken + `","nodeName":"worker-1"}`, ""},
	{"services", "GET", "/api/services", "", adminToken},
	{"nodes", "GET", "/api/nodes", "", adminToken},
	{"clean-service-db", "POST", "/api/clean/service", `{"token":"` + dbClean + `","serviceName":"shop_db"}`, ""},
}

// instantOps answer every operation at once, recording nothing: what a call costs beyond
// them is the server's own.
type instantOps struct{}

func instant(op, target string) operation.Result {
	return operation.Result{Operation: op, Target: target, OK: true, Steps: []operation.Step{}}
}

func (instantOps) CleanNode(_ context.Context, n string) operation.Result {
	return instant(OpCleanNode, n)
}
func (instantOps) CleanService(_ context.Context, n string) operation.Result {
	return instant(OpCleanService, n)
}
func (instantOps) BackupService(_ context.Context, n string) operation.Result {
	return instant(OpBackupService, n)
}
func (instantOps) UpdateService(_ context.Context, o update.Options) operation.Result {
	return instant(OpUpdateService, o.Service)
}
func (instantOps) RestoreService(_ context.Context, o restore.Options) operation.Result {
	return instant(OpRestoreService, o.Service)
}
func (instantOps) CheckUpdate(_ context.Context, n string) operation.Result {
	return instant(OpUpdateCheck, n)
}
func (instantOps) CleanAllNodes(context.Context) operation.Report {
	return operation.Report{Operation: OpCleanNode, OK: true}
}

// benchServer is the server as `swarm-utils serve` builds it, on instant operations: metrics,
// the process-wide masker holding extraSecrets more values (the label tokens of a larger
// cluster), and a JSON log written to /dev/null (one write per line, like stdout).
func benchServer(b *testing.B, extraSecrets int) http.Handler {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devNull.Close() })
	secrets := bashexec.NewGlobalSecrets()
	for i := range extraSecrets {
		secrets.Add(fmt.Sprintf("label-token-%04d-%x", i, i*7919))
	}
	m := NewMetrics()
	// Each label token starts 25 of the 200 calls at once: past the default 4 jobs per token
	// some would be refused (429) at the cost of a refusal, not of a call.
	s := New(Options{Ops: Instrumented{Ops: instantOps{}, Metrics: m}, Metrics: m, Targets: fixtureTargets(), Config: fixtureConfig(),
		Secrets: secrets, Log: slog.New(slog.NewJSONHandler(devNull, nil)), JobsPerToken: 200})
	b.Cleanup(s.Abort)
	return s.Handler()
}

// discardWriter is a reusable ResponseWriter that keeps the status only.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

// BenchmarkAPICall is the server's CPU per call, one call at a time, from the handler's entry
// to the response written (no client, no connection): cpu-ns/op and allocs/op are stable on a
// noisy machine, unlike the concurrent benchmark's tail (and ns/op, which grows with the
// machine's load). Under 200 calls at once on 2 CPUs the
// p99 is about 100 × the mixed ns/op, so the ≤ 5 ms target (ISSUE 17) needs ≤ 50 µs here.
// "mixed" cycles through the calls of BenchmarkAPIConcurrentMixed; "mixed-900-secrets" is the
// same with the label tokens of 300 services in the masker.
//
//	go test -run '^$' -bench APICall -benchmem ./api/
func BenchmarkAPICall(b *testing.B) {
	run := func(b *testing.B, h http.Handler, calls []benchCall) {
		reqs := make([]*http.Request, len(calls))
		bodies := make([]*strings.Reader, len(calls))
		for i, c := range calls {
			bodies[i] = strings.NewReader(c.body)
			reqs[i] = httptest.NewRequest(c.method, c.path, io.NopCloser(bodies[i]))
			reqs[i].ContentLength = int64(len(c.body))
			if c.bearer != "" {
				reqs[i].Header.Set("Authorization", "Bearer "+c.bearer)
			}
		}
		w := &discardWriter{header: http.Header{}}
		b.ReportAllocs()
		i := 0
		cpu := benchCPU()
		for b.Loop() {
			k := i % len(calls)
			i++
			bodies[k].Reset(calls[k].body)
			clear(w.header)
			w.status = 0
			h.ServeHTTP(w, reqs[k])
			if w.status != http.StatusOK {
				b.Fatalf("%s: status %d", calls[k].name, w.status)
			}
		}
		// The process's CPU, GC included, per call: unlike ns/op it does not grow while the
		// benchmark waits for a CPU that other processes hold.
		b.ReportMetric(float64((benchCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	for _, c := range mixedCalls {
		b.Run(c.name, func(b *testing.B) { run(b, benchServer(b, 0), []benchCall{c}) })
	}
	b.Run("mixed", func(b *testing.B) { run(b, benchServer(b, 0), mixedCalls) })
	b.Run("mixed-900-secrets", func(b *testing.B) { run(b, benchServer(b, 900), mixedCalls) })
}

// BenchmarkAPIConcurrentMixed fires 200 mixed calls at once over loopback at the server of
// BenchmarkAPICall and reports p50 and p99 of the server's own time per call (target p99 ≤ 5 ms,
// ISSUE 17): from the request entering the handler to the response written. Nothing a call
// waits for is docker or a target's lock (the operations are instant); what it waits for is
// the CPU that the other calls' work takes, in the handlers and in net/http.
//
// The client must not share that CPU: it writes each call's request, pre-built, as one write
// on its own kept-alive connection, and reads the answers only after the last of the 200
// handlers has returned (they wait in the socket buffers). An http.Client in this process
// would spend as much CPU per call as the server, inside the measured time.
//
// It also reports the median over the bursts of each burst's p99, the CPU (user+system) and the
// allocations of the whole process per call (net/http's work and the client's writes
// included), and the machine's load average: on a shared machine the tail is the process
// waiting for a CPU.
//
//	go test -run '^$' -bench APIConcurrentMixed -benchtime 20x ./api/
func BenchmarkAPIConcurrentMixed(b *testing.B) {
	const concurrent = 200
	inner := benchServer(b, 0)
	var (
		mu      sync.Mutex
		own     []time.Duration
		handled sync.WaitGroup
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inner.ServeHTTP(w, r)
		d := time.Since(start)
		mu.Lock()
		own = append(own, d)
		mu.Unlock()
		handled.Done()
	}))
	defer srv.Close()

	type client struct {
		conn net.Conn
		rd   *bufio.Reader
		raw  []byte
		name string
	}
	clients := make([]*client, concurrent)
	for i := range clients {
		c := mixedCalls[i%len(mixedCalls)]
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		raw := c.method + " " + c.path + " HTTP/1.1\r\nHost: bench\r\n"
		if c.bearer != "" {
			raw += "Authorization: Bearer " + c.bearer + "\r\n"
		}
		if c.body != "" {
			raw += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(c.body)) + "\r\n"
		}
		clients[i] = &client{conn: conn, rd: bufio.NewReader(conn), raw: []byte(raw + "\r\n" + c.body), name: c.name}
	}
	statuses := map[string]int{}
	var cpu time.Duration
	var mallocs uint64
	var burstP99 []time.Duration // of each burst of 200
	calls := 0
	for b.Loop() {
		handled.Add(concurrent)
		cpuBefore, mallocsBefore := benchCPU(), heapMallocs()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, c := range clients {
			wg.Go(func() {
				<-start
				if _, err := c.conn.Write(c.raw); err != nil {
					b.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		handled.Wait()
		cpu += benchCPU() - cpuBefore
		mallocs += heapMallocs() - mallocsBefore
		calls += concurrent
		mu.Lock()
		burst := slices.Sorted(slices.Values(own[len(own)-concurrent:]))
		mu.Unlock()
		burstP99 = append(burstP99, burst[concurrent*99/100])
		for _, c := range clients {
			res, err := http.ReadResponse(c.rd, nil)
			if err != nil {
				b.Fatalf("%s: read the answer: %v", c.name, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[fmt.Sprint(c.name, " ", res.StatusCode)]++
		}
	}
	for k := range statuses {
		if !strings.HasSuffix(k, " 200") {
			b.Errorf("answers that should not happen (call status: count): %v", statuses)
			break
		}
	}
	slices.Sort(own)
	q := func(p float64) time.Duration { return own[min(len(own)-1, int(p*float64(len(own))))] }
	b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(q(1).Microseconds())/1000, "max-ms")
	// A machine whose other work takes the CPUs away for 10 ms stalls every call of that burst
	// at once: the pooled p99 then says more about the machine than about the server. The
	// median burst's p99 is the figure that stays when such stalls hit some bursts.
	slices.Sort(burstP99)
	medianBurstP99 := burstP99[len(burstP99)/2]
	b.ReportMetric(float64(medianBurstP99.Microseconds())/1000, "p99-median-burst-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(calls), "cpu-µs/call")
	b.ReportMetric(float64(mallocs)/float64(calls), "allocs/call")
	b.ReportMetric(loadAverage(), "load1")
	b.Logf("%d calls: p50 %s, p99 %s (median burst's %s), max %s; %.1f µs CPU and %.0f allocations per call; load %.1f",
		calls, q(0.50), q(0.99), medianBurstP99, q(1), float64(cpu.Microseconds())/float64(calls), float64(mallocs)/float64(calls), loadAverage())
	if p99 := q(0.99); p99 > 5*time.Millisecond {
		b.Errorf("p99 of the server's own time per call %s, target ≤ 5 ms", p99)
	}
}

// benchCPU is the CPU time (user+system) the process has used.
func benchCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapMallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// loadAverage is the machine's 1-minute load average (0 when unknown).
func loadAverage() float64 {
	la, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(la))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
