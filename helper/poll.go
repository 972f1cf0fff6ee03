package helper

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/parse"
)

// Helpers that run at once (one per node of an operation, or of operations at once) share their
// polls: each round is one `docker service ps` of all of them instead of one process per helper
// and poll. A docker CLI process costs tens of ms of CPU; several helpers polling every 100 ms
// each would take the CPU the helpers themselves need.
type pollBatch struct {
	mu  sync.Mutex
	cur *pollRound // the round gathering its helpers; nil when none
}

type pollRound struct {
	want map[string]string // helper service ID → name
	done chan struct{}
	rows []parse.TaskRow
	err  error
}

// helperTasks is the tasks of the helper (service id, named name), read in the next shared
// round. A round whose read fails is read again for each helper alone: the error is then its own.
func (e *Engine) helperTasks(ctx context.Context, id, name string) ([]parse.TaskRow, error) {
	e.polls.mu.Lock()
	r := e.polls.cur
	if r == nil {
		r = &pollRound{want: map[string]string{}, done: make(chan struct{})}
		e.polls.cur = r
		go e.pollRound(context.WithoutCancel(ctx), r)
	}
	r.want[id] = name
	e.polls.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return e.Swarm.Tasks(ctx, id, false)
	}
	if len(r.want) == 1 {
		return r.rows, nil
	}
	var rows []parse.TaskRow
	for _, row := range r.rows {
		if strings.HasPrefix(row.Name, name+".") {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// pollRound waits a tenth of the poll interval for the helpers polling about now to join, then
// reads all their tasks at once.
func (e *Engine) pollRound(ctx context.Context, r *pollRound) {
	defer close(r.done)
	time.Sleep(e.PollInterval / 10)
	e.polls.mu.Lock()
	e.polls.cur = nil
	ids := slices.Sorted(maps.Keys(r.want))
	e.polls.mu.Unlock()
	if len(ids) == 1 {
		r.rows, r.err = e.Swarm.Tasks(ctx, ids[0], false)
		return
	}
	r.rows, r.err = e.Swarm.JobTasks(ctx, ids)
}
