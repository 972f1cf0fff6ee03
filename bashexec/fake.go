package bashexec

import (
	"context"
	"sync"
)

// Fake is a scripted Runner for unit tests of other packages.
type Fake struct {
	mu      sync.Mutex
	Calls   []Command
	Handler func(c Command) (Result, error)
}

var _ Runner = (*Fake)(nil)

// Run records the call, then returns Handler's answer (a zero Result when
// Handler is nil). Handler runs outside the lock so that it may block or
// run concurrently like real commands.
func (f *Fake) Run(ctx context.Context, c Command) (Result, error) {
	f.mu.Lock()
	f.Calls = append(f.Calls, c)
	h := f.Handler
	f.mu.Unlock()
	if h == nil {
		return Result{}, nil
	}
	return h(c)
}
