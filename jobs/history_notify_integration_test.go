//go:build integration

package jobs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/notify"
	"github.com/swarm-utils/swarm-utils/operation"
)

// A failing clean-service on the bed is recorded in the run history and sends exactly one
// notification, with its error, to a generic webhook on 127.0.0.1; a run that succeeds is
// recorded and not notified (SWARM_UTILS_NOTIFY_ON=failure). The webhook's URL, a secret,
// never reaches the log.
func TestFailedRunIsRecordedAndNotifiedOnce(t *testing.T) {
	tb := testbed.Get(t)
	var (
		mu       sync.Mutex
		messages []map[string]string
	)
	hook := "/hook-" + suffix() + suffix()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m map[string]string
		_ = json.Unmarshal(raw, &m)
		mu.Lock()
		if r.URL.Path == hook {
			messages = append(messages, m)
		}
		mu.Unlock()
	}))
	defer recv.Close()

	cfg := tb.Config()
	cfg.Notify.On = "failure"
	cfg.Notify.URLs = []string{"generic://" + strings.TrimPrefix(recv.URL, "http://") + hook + "?template=json&disabletls=yes"}
	d, logs := testDepsRecorded(t, cfg)
	store, err := history.Open(t.TempDir(), 30, history.Options{LockWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	n, err := notify.New(notify.Options{URLs: cfg.Notify.URLs, On: cfg.Notify.On, Mask: d.Secrets.Mask, Log: d.Log})
	if err != nil {
		t.Fatal(err)
	}
	d.Observers = []Observer{&history.Recorder{Store: store, Mask: d.Secrets.Mask, Log: d.Log}, n}

	failing, passing := "it-ntf-fail-"+suffix(), "it-ntf-ok-"+suffix()
	tb.Service(t, failing, "--label", "swarm-utils.clean.enable=true",
		"--label", `swarm-utils.clean.exec=echo "cache is broken"; exit 7`, tb.WorkloadImage)
	tb.Service(t, passing, "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=true", tb.WorkloadImage)

	bad := d.CleanService(context.Background(), failing)
	good := d.CleanService(context.Background(), passing)
	if bad.OK || !good.OK {
		t.Fatalf("want %s to fail and %s to succeed: %s\n%s", failing, passing, mustJSON(bad), mustJSON(good))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]map[string]string(nil), messages...)
	mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("received %d messages, want exactly one: %v", len(got), got)
	}
	for _, want := range []string{"clean-service on " + failing, "FAILED (docker)", bad.Error, "by cli"} {
		if !strings.Contains(got[0]["message"], want) {
			t.Errorf("the message lacks %q:\n%s", want, got[0]["message"])
		}
	}

	runs, err := store.List(history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]history.Record{}
	for _, r := range runs {
		byTarget[r.Target] = r
	}
	if r := byTarget[failing]; r.OK || r.Outcome != "docker" || r.Error != bad.Error || r.Who != operation.CallerCLI || len(r.Steps) == 0 || r.ID == "" {
		t.Errorf("the failed run as recorded: %+v", r)
	}
	if r := byTarget[passing]; !r.OK || r.Outcome != "ok" || r.DurationMs <= 0 {
		t.Errorf("the passing run as recorded: %+v", r)
	}
	if strings.Contains(logs.String(), hook) {
		t.Errorf("the webhook URL's secret path reached the log")
	}
	tb.AssertNoHelpers(t)
}
