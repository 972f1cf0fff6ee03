package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/operation"
)

// receiver is a local generic webhook: it keeps every message's JSON body.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]string
	status int
	block  chan struct{} // when set, requests wait on it
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{status: http.StatusOK}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.block != nil {
			select {
			case <-rc.block:
			case <-r.Context().Done():
			}
		}
		raw, _ := io.ReadAll(r.Body)
		var m map[string]string
		_ = json.Unmarshal(raw, &m)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, m)
		rc.mu.Unlock()
		w.WriteHeader(rc.status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// url is the receiver as shoutrrr's generic service addresses it (JSON body, plain http).
func (rc *receiver) url(path string) string {
	return "generic://" + strings.TrimPrefix(rc.URL, "http://") + path + "?template=json&disabletls=yes"
}

func (rc *receiver) received() []map[string]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]string(nil), rc.bodies...)
}

func failedBackup() operation.Result {
	r := operation.Result{Operation: "backup-service", Target: "shop_db", OK: true, StartedAt: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC),
		Duration: operation.Duration(12300 * time.Millisecond),
		Steps:    []operation.Step{{Name: "stop", OK: true}, {Name: "upload", Node: "worker-1", OK: false, Error: "exit code 1: s3 said no to AKIA-SECRET-KEY"}}}
	r.Fail(errors.New("step upload on worker-1 failed: exit code 1: s3 said no to AKIA-SECRET-KEY"))
	return r
}

func TestNotifierSendsOneMessagePerWantedRun(t *testing.T) {
	okRun := operation.Result{Operation: "clean-node", Target: "worker-2", OK: true, Steps: []operation.Step{}}
	tests := []struct {
		name     string
		on       string
		run      operation.Result
		messages int
		contains []string
	}{
		{"failure is sent", "failure", failedBackup(), 1, []string{"backup-service", "shop_db", "FAILED (docker)", "12.3s", "step upload on worker-1 failed: exit code 1: s3 said no to ***", "by cron"}},
		{"success is not sent on failure", "failure", okRun, 0, nil},
		{"success is sent on always", "always", okRun, 1, []string{"clean-node on worker-2: OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			secrets := bashexec.NewGlobalSecrets("AKIA-SECRET-KEY")
			n, err := New(Options{URLs: []string{rc.url("/hook")}, On: tt.on, Mask: secrets.Mask})
			if err != nil {
				t.Fatal(err)
			}
			n.RunEnded("run-1", operation.CallerCron, tt.run)
			if err := n.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := rc.received()
			if len(got) != tt.messages {
				t.Fatalf("received %d messages, want %d: %v", len(got), tt.messages, got)
			}
			for _, want := range tt.contains {
				if !strings.Contains(got[0]["message"], want) {
					t.Errorf("message %q lacks %q", got[0]["message"], want)
				}
			}
			for _, m := range got {
				if strings.Contains(m["message"]+m["title"], "AKIA-SECRET-KEY") {
					t.Errorf("message shows a secret: %v", m)
				}
			}
		})
	}
}

// A notifier that fails or hangs is logged with its URL masked; the run's observer call
// returns at once, and the wait ends with the timeout.
func TestFailingNotifierIsLoggedNeverInTheWay(t *testing.T) {
	failing, hanging := newReceiver(t), newReceiver(t)
	failing.status = http.StatusInternalServerError
	hanging.block = make(chan struct{})
	defer close(hanging.block)
	urls := []string{failing.url("/secret-hook-path-1"), hanging.url("/secret-hook-path-2")}
	var logs bytes.Buffer
	secrets := bashexec.NewGlobalSecrets()
	for _, u := range urls {
		secrets.Add(u, strings.TrimPrefix(strings.Split(u, "?")[0], "generic://"), "secret-hook-path-1", "secret-hook-path-2")
	}
	n, err := New(Options{URLs: urls, On: "failure", Timeout: 300 * time.Millisecond, Mask: secrets.Mask,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n.RunEnded("run-2", "admin", failedBackup())
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("RunEnded took %s: sending must not delay the run", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v (a hanging notifier must time out)", err)
	}
	out := logs.String()
	if strings.Count(out, "notification failed") != 2 {
		t.Errorf("want two failures logged, got:\n%s", out)
	}
	for _, leak := range []string{"secret-hook-path", strings.TrimPrefix(failing.URL, "http://")} {
		if strings.Contains(out, leak) {
			t.Errorf("the log shows %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, `notifier="1 of 2 (generic://…)"`) {
		t.Errorf("the log does not name the notifier by position:\n%s", out)
	}
}

func TestNewRefusesABadURLWithoutShowingIt(t *testing.T) {
	_, err := New(Options{URLs: []string{"nosuchservice://very-secret-token@host"}, On: "failure"})
	if err == nil || strings.Contains(err.Error(), "very-secret-token") || !strings.Contains(err.Error(), "URL 1 of 1") {
		t.Errorf("New = %v, want an error naming URL 1 without its text", err)
	}
}

func TestMessageIsBounded(t *testing.T) {
	r := failedBackup()
	r.Error = strings.Repeat("x", 10000)
	_, body := Message("id", "cli", r, nil)
	if len(body) > maxMessageBytes+10 {
		t.Errorf("message is %d bytes, want at most about %d", len(body), maxMessageBytes)
	}
}

// A send that hangs past its timeout keeps its slot until it returns: hung notifiers cannot
// pile up goroutines; the run past the bound is logged, not sent.
func TestHungSendsStayBounded(t *testing.T) {
	hanging := newReceiver(t)
	hanging.block = make(chan struct{})
	var logs bytes.Buffer
	n, err := New(Options{URLs: []string{hanging.url("/h")}, On: "always", Timeout: 50 * time.Millisecond, MaxPending: 2,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		n.RunEnded("id", "cli", failedBackup())
	}
	if err := n.Wait(context.Background()); err != nil { // both timed out
		t.Fatal(err)
	}
	n.RunEnded("id", "cli", failedBackup())
	if !strings.Contains(logs.String(), "notification not sent: too many") {
		t.Errorf("a third message past the bound of two hung sends was not refused:\n%s", logs.String())
	}
	close(hanging.block)
	deadline := time.Now().Add(5 * time.Second)
	for len(n.slots) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slots were not freed once the sends returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
