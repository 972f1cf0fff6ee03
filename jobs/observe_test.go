package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

type seen struct{ id, who, op, target string }

type observer struct {
	mu   sync.Mutex
	runs []seen
}

func (o *observer) RunEnded(id, who string, r operation.Result) {
	o.mu.Lock()
	o.runs = append(o.runs, seen{id, who, r.Operation, r.Target})
	o.mu.Unlock()
}

// Every run is told to the observers once, from every door: refusals too, each node of an
// --all on its own, under the door's run id and caller or the Deps' default caller.
func TestObserversSeeEveryRun(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"))
	f.AddService(parse.Service{Name: "shop_web", Image: "web:1", Replicas: 1,
		Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true"}}, "worker-1")
	cfg := config.Config{CleanExecShell: "/bin/sh", Timeouts: config.Timeouts{CleanServiceExec: time.Second, Lock: time.Second, Extra: time.Second, Pending: time.Second,
		CleanNodeImage: time.Second, CleanNodeBuilder: time.Second, CleanNodeContainer: time.Second}}
	newDeps := func(caller string) (*jobs.Deps, *observer) {
		d := jobs.NewDeps(cfg, &bashexec.Fake{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		o := &observer{}
		d.Swarm, d.PollInterval, d.Observers, d.Caller = f, time.Millisecond, []jobs.Observer{o}, caller
		return d, o
	}
	apiCtx := operation.WithCaller(operation.WithRun(context.Background(), "job-id-from-the-api"), "label-token")
	tests := []struct {
		name   string
		caller string
		run    func(*jobs.Deps)
		want   []seen // ids "" are any fresh id
	}{
		{"cli", "", func(d *jobs.Deps) { d.CleanService(context.Background(), "shop_web") },
			[]seen{{"", "cli", "clean-service", "shop_web"}}},
		{"a refusal is a run too", "", func(d *jobs.Deps) { d.CleanService(context.Background(), "no_such") },
			[]seen{{"", "cli", "clean-service", "no_such"}}},
		{"the api's id and caller", operation.CallerCron, func(d *jobs.Deps) { d.BackupService(apiCtx, "shop_web") },
			[]seen{{"job-id-from-the-api", "label-token", "backup-service", "shop_web"}}},
		{"cron in serve", operation.CallerCron, func(d *jobs.Deps) { d.CleanAllNodes(context.Background()) },
			[]seen{{"", "cron", "clean-node", "worker-1"}, {"", "cron", "clean-node", "worker-2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, o := newDeps(tt.caller)
			tt.run(d)
			if len(o.runs) != len(tt.want) {
				t.Fatalf("observed %v, want %v", o.runs, tt.want)
			}
			ids := map[string]bool{}
			for i, w := range tt.want {
				got := o.runs[i]
				if got.id == "" || ids[got.id] || (w.id != "" && got.id != w.id) {
					t.Errorf("run %d id %q: want %q, unique and not empty", i, got.id, w.id)
				}
				ids[got.id] = true
				if got.who != w.who || got.op != w.op || got.target != w.target {
					t.Errorf("run %d = %+v, want %+v", i, got, w)
				}
			}
		})
	}
}
