package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
)

// unauthenticated are requests on every token-guarded route with a token that no target has.
// The GET routes take the token from the header (bearer), the POST routes from the body.
func unauthenticated(i int) (method, path, body, bearer string) {
	tok := fmt.Sprintf("guess-%04d", i)
	switch i % 7 {
	case 0:
		return "POST", "/api/clean/service", `{"token":"` + tok + `","serviceName":"shop_web"}`, ""
	case 1:
		return "POST", "/api/backup/service", `{"token":"` + tok + `","serviceName":"shop_web","waitRes":false}`, ""
	case 2:
		return "POST", "/api/update/service", `{"token":"` + tok + `","serviceName":"shop_db","image":"registry:5000/shop/db:2"}`, ""
	case 3:
		return "POST", "/api/clean/node", `{"nodeName":"worker-1"}`, tok
	case 4:
		return "GET", "/api/services", "", tok
	case 5:
		return "GET", "/api/nodes", "", tok
	}
	return "GET", "/api/jobs/0123456789abcdef0123456789abcdef", "", tok
}

// send makes one request over the loopback connection of srv; bearer "" sends none.
func send(t testing.TB, client *http.Client, base, method, path, body, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestUnauthenticatedRequestsStartNoDockerWork: 1000 concurrent requests with unknown tokens, on
// every guarded route, are all 401 and cost one read of the labels (services and nodes), not
// one docker call each.
func TestUnauthenticatedRequestsStartNoDockerWork(t *testing.T) {
	clock := newFakeClock() // frozen: the cache never expires during the test
	h := newHarness(t, func(o *Options) { o.Now = clock.Now })
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	const requests = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	statuses := make([]int, requests)
	for i := range requests {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			method, path, body, bearer := unauthenticated(i)
			statuses[i], _ = send(t, srv.Client(), srv.URL, method, path, body, bearer)
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusUnauthorized {
			m, p, _, _ := unauthenticated(i)
			t.Errorf("request %d (%s %s): status %d, want 401", i, m, p, s)
		}
	}
	if n := h.targets.docker.Load(); n > 2 {
		t.Errorf("%d docker reads for %d unauthenticated requests, want at most 2 (one refresh of the label-token cache)", n, requests)
	}
	if calls := h.ops.Calls(); len(calls) != 0 {
		t.Errorf("operations ran: %v", calls)
	}
}

// TestDockerDownUnauthenticatedIs401: with docker down a caller with an unknown token learns
// nothing about docker (no command line, DOCKER_HOST or stderr: 401, not 502), and the failed
// read is not repeated per request; an admin still gets the 502 that explains it.
func TestDockerDownUnauthenticatedIs401(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, func(o *Options) { o.Now = clock.Now })
	h.targets.err = errString("docker service ls --format json: exit status 1: Cannot connect to the Docker daemon at tcp://10.9.9.9:2375 (DOCKER_HOST=tcp://10.9.9.9:2375)")
	for i := range 20 {
		method, path, body, bearer := unauthenticated(i)
		res := h.do(method, path, body, bearer)
		if res.Status != http.StatusUnauthorized {
			t.Errorf("%s %s: status %d, want 401: %s", method, path, res.Status, res.Body)
		}
		for _, leak := range []string{"DOCKER_HOST", "10.9.9.9", "Cannot connect", "docker service ls", "exit status"} {
			if strings.Contains(string(res.Body), leak) {
				t.Errorf("%s %s: the 401 tells %q: %s", method, path, leak, res.Body)
			}
		}
	}
	if n := h.targets.docker.Load(); n != 1 {
		t.Errorf("%d docker reads for 20 requests with docker down, want 1 (the error is cached)", n)
	}
	if res := h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, ""); res.Status != http.StatusBadGateway {
		t.Errorf("admin with docker down: %d, want 502: %s", res.Status, res.Body)
	}
}

// TestOversizedTokenIs401: a token over 4 KiB is refused before it is hashed or compared, even
// when it is configured.
func TestOversizedTokenIs401(t *testing.T) {
	long := strings.Repeat("k", 4<<10+1)
	h := newHarness(t, func(o *Options) { o.Config.AdminTokens = append(o.Config.AdminTokens, long) })
	for _, tt := range []struct {
		name, body, bearer string
	}{
		{name: "body", body: `{"token":"` + long + `","serviceName":"shop_web"}`},
		{name: "header", body: `{"serviceName":"shop_web"}`, bearer: long},
	} {
		res := h.do("POST", "/api/clean/service", tt.body, tt.bearer)
		if res.Status != http.StatusUnauthorized || !strings.Contains(string(res.Body), "longer than 4096 bytes") {
			t.Errorf("%s: %d %s", tt.name, res.Status, res.Body)
		}
	}
	if res := h.do("GET", "/api/services", "", long); res.Status != http.StatusUnauthorized {
		t.Errorf("listing: %d", res.Status)
	}
	if calls := h.ops.Calls(); len(calls) != 0 || h.targets.docker.Load() != 0 {
		t.Errorf("work was done for an oversized token: calls %v, docker reads %d", calls, h.targets.docker.Load())
	}
}

// TestRequestsInFlightAreCapped: with every slot taken by requests still sending their bodies,
// the next API request is 503 with Retry-After (here without waiting for a slot); probes still answer; a waitRes=true
// request gives its slot back while it waits for its operation.
func TestRequestsInFlightAreCapped(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxInFlight, o.AdmitWait = 2, -1 })
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	for range 2 {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req := httptest.NewRequest("POST", "/api/clean/service", pr)
		wg.Go(func() { h.handler.ServeHTTP(httptest.NewRecorder(), req) })
	}
	waitFor(t, "both slow requests hold a slot", func() bool { return len(h.server.inFlight) == 2 })

	res := h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, "")
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("request past the cap: %d Retry-After %q: %s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if res := h.do("GET", probe, "", ""); res.Status != http.StatusOK {
			t.Errorf("%s under a full cap: %d", probe, res.Status)
		}
	}
	for _, pw := range pipes {
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	wg.Wait()
	if n := len(h.server.inFlight); n != 0 {
		t.Errorf("%d slots still taken after the requests ended", n)
	}

	// A request waiting for its operation holds no slot.
	release := make(chan struct{})
	h.ops.result = func(ctx context.Context, op, target string) operation.Result {
		<-release
		return operation.Result{Operation: op, Target: target, OK: true, Steps: []operation.Step{}}
	}
	for range 2 {
		req := httptest.NewRequest("POST", "/api/clean/service", strings.NewReader(`{"token":"`+adminToken+`","serviceName":"shop_web"}`))
		wg.Go(func() { h.handler.ServeHTTP(httptest.NewRecorder(), req) })
	}
	waitFor(t, "both operations run", func() bool { return len(h.ops.Calls()) == 2 })
	if res := h.do("GET", "/api/services", "", adminToken); res.Status != http.StatusOK {
		t.Errorf("while two requests wait for their operations: %d %s", res.Status, res.Body)
	}
	close(release)
	wg.Wait()
}

// waitFor polls cond until it holds (a synchronisation, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

// TestReadyzIsCachedAndShort: /readyz checks docker at most once per readyTTL however often it
// is polled, and a failure's reason names no command line, DOCKER_HOST or stderr.
func TestReadyzIsCachedAndShort(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, func(o *Options) { o.Now = clock.Now })
	h.targets.pingErr = errString("docker info --format {{json .Swarm}}: exit status 1: Cannot connect to the Docker daemon at tcp://10.9.9.9:2375 (DOCKER_HOST=tcp://10.9.9.9:2375)")
	for range 100 {
		res := h.do("GET", "/readyz", "", "")
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(string(res.Body), "docker is unreachable") {
			t.Fatalf("docker down: %d %s", res.Status, res.Body)
		}
		for _, leak := range []string{"DOCKER_HOST", "10.9.9.9", "exit status", "docker info"} {
			if strings.Contains(string(res.Body), leak) {
				t.Fatalf("/readyz tells %q: %s", leak, res.Body)
			}
		}
	}
	if n := h.targets.docker.Load(); n != 1 {
		t.Errorf("%d docker checks for 100 polls, want 1", n)
	}
	h.targets.pingErr = nil
	clock.Advance(readyTTL)
	if res := h.do("GET", "/readyz", "", ""); res.Status != http.StatusOK {
		t.Errorf("docker back, after readyTTL: %d %s", res.Status, res.Body)
	}
	if n := h.targets.docker.Load(); n != 2 {
		t.Errorf("%d docker checks, want 2", n)
	}
	if !strings.Contains(h.log.String(), "DOCKER_HOST") {
		t.Error("the operator's log does not have the full error")
	}
}

// stoppedTargets are fakeTargets that also count the services a backup left at 0.
type stoppedTargets struct {
	*fakeTargets
	left int
}

func (s stoppedTargets) LeftStopped() int { return s.left }

// Services a backup left at 0 replicas show in /readyz and as a gauge, without making
// swarm-utils unready; Targets that cannot count them add nothing.
func TestReadyzAndMetricsShowServicesLeftStopped(t *testing.T) {
	for _, tc := range []struct {
		name string
		left int // -1: the targets cannot count
		want string
	}{
		{"two left stopped", 2, `"servicesLeftStopped": 2`},
		{"none", 0, `"servicesLeftStopped": 0`},
		{"not counted", -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			metrics := NewMetrics()
			h := newHarness(t, func(o *Options) {
				if tc.left >= 0 {
					st := stoppedTargets{fakeTargets: o.Targets.(*fakeTargets), left: tc.left}
					o.Targets = st
					metrics.WatchLeftStopped(st.LeftStopped)
				}
				o.Metrics = metrics
			})
			res := h.do("GET", "/readyz", "", "")
			if res.Status != http.StatusOK {
				t.Fatalf("/readyz %d %s: services left stopped must not make swarm-utils unready", res.Status, res.Body)
			}
			if got := strings.Contains(string(res.Body), "servicesLeftStopped"); got != (tc.want != "") || !strings.Contains(string(res.Body), tc.want) {
				t.Errorf("/readyz %s, want %q", res.Body, tc.want)
			}
			m := h.do("GET", "/metrics", "", "")
			gauge := fmt.Sprintf("swarm_utils_services_left_stopped %d", tc.left)
			if got := strings.Contains(string(m.Body), "swarm_utils_services_left_stopped "); got != (tc.left >= 0) || (tc.left >= 0 && !strings.Contains(string(m.Body), gauge)) {
				t.Errorf("/metrics: want %q present=%v", gauge, tc.left >= 0)
			}
		})
	}
}
