package operation

import (
	"context"
	"sync"
)

// tail is the work an operation's steps left to finish beside the release of its cluster lock.
type tail struct{ wg sync.WaitGroup }

type tailKey struct{}

// Tidy runs fn, which only tidies up after a step that has ended (the removal of a helper whose
// task ended and whose logs were read), in the background of the operation ctx belongs to: the
// operation ends once fn returned, and its cluster lock is released meanwhile. false: ctx
// belongs to no operation, and fn did not run.
//
// Safe for a helper because of the claim (helper.Engine.Claim): a run that takes the lock
// while the removal is under way finds the helper ended and removes it itself, and a helper
// gone between its list and its read is no error. Only for steps nothing later in the same
// operation waits on (a secret in use, a helper name used again).
func Tidy(ctx context.Context, fn func()) bool {
	t, _ := ctx.Value(tailKey{}).(*tail)
	if t == nil {
		return false
	}
	t.wg.Go(fn)
	return true
}
