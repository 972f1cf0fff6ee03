// Package notify tells people of runs through shoutrrr URLs (SWARM_UTILS_NOTIFY_URLS): one
// message per run, on failure or always (SWARM_UTILS_NOTIFY_ON). Sending happens beside the
// run, never in its way: it is bounded in time and in number, and a notifier that fails is
// logged (its URL never shown), never a failed run.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nicholas-fedor/shoutrrr"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/operation"
)

// DefaultTimeout bounds one message to one URL.
const DefaultTimeout = 10 * time.Second

// MaxPending bounds the messages being sent at once; a run past it is logged, not notified,
// so that a notifier that hangs cannot pile up goroutines.
const MaxPending = 32

// maxMessageBytes keeps a message within what chat services take (Slack ~40 KB, Telegram 4 KB).
const maxMessageBytes = 3000

// Options configure a Notifier.
type Options struct {
	URLs    []string
	On      string        // config.NotifyOnFailure or config.NotifyOnAlways
	Timeout time.Duration // 0: DefaultTimeout
	Mask    func(string) string
	Log     *slog.Logger
}

// Notifier sends one message per ended run (jobs.Observer).
type Notifier struct {
	targets []target
	always  bool
	timeout time.Duration
	mask    func(string) string
	log     *slog.Logger
	slots   chan struct{}
	wg      sync.WaitGroup
}

// target is one URL's sender; the URL itself is not kept, only what a log may name.
type target struct {
	n, of  int
	scheme string
	sender *router.ServiceRouter
}

// New checks every URL with shoutrrr. An error names a URL by its position and scheme only.
func New(o Options) (*Notifier, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Mask == nil {
		o.Mask = func(s string) string { return s }
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	n := &Notifier{always: o.On == config.NotifyOnAlways, timeout: o.Timeout, mask: o.Mask, log: o.Log, slots: make(chan struct{}, MaxPending)}
	for i, raw := range o.URLs {
		scheme := schemeOf(raw)
		// One router per URL, so that an error is known to be that URL's.
		sender, err := shoutrrr.CreateSender(raw)
		if err != nil {
			return nil, fmt.Errorf("SWARM_UTILS_NOTIFY_URLS: URL %d of %d (%s://…) is not usable: %s", i+1, len(o.URLs), scheme, o.Mask(stripURL(err.Error(), raw)))
		}
		sender.Timeout = o.Timeout
		n.targets = append(n.targets, target{n: i + 1, of: len(o.URLs), scheme: scheme, sender: sender})
	}
	return n, nil
}

func schemeOf(raw string) string {
	scheme, _, _ := strings.Cut(raw, "://")
	if len(scheme) > 20 {
		scheme = scheme[:20]
	}
	return scheme
}

// stripURL removes the URL from a shoutrrr error, which quotes it whole (the masker also
// knows it, but only when it is long enough to mask).
func stripURL(msg, raw string) string {
	msg = strings.ReplaceAll(msg, raw, "***")
	if u, err := url.Parse(raw); err == nil {
		msg = strings.ReplaceAll(msg, u.String(), "***")
	}
	return msg
}

// Wants tells whether r is to be notified.
func (n *Notifier) Wants(r operation.Result) bool { return len(n.targets) > 0 && (n.always || !r.OK) }

// RunEnded sends the run's message to every URL in the background.
func (n *Notifier) RunEnded(id, who string, r operation.Result) {
	if !n.Wants(r) {
		return
	}
	select {
	case n.slots <- struct{}{}:
	default:
		n.log.Warn("notification not sent: too many are being sent already", "operation", r.Operation, "target", r.Target, "pending", MaxPending)
		return
	}
	title, body := Message(id, who, r, n.mask)
	n.wg.Go(func() {
		defer func() { <-n.slots }()
		n.send(title, body)
	})
}

// send sends to every URL at once and waits for all, each bounded by the timeout.
func (n *Notifier) send(title, body string) {
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Go(func() {
			params := types.Params{"title": title}
			for _, err := range t.sender.Send(body, &params) {
				if err != nil {
					n.log.Warn("notification failed", "notifier", fmt.Sprintf("%d of %d (%s://…)", t.n, t.of, t.scheme), "err", n.mask(err.Error()))
				}
			}
		})
	}
	wg.Wait()
}

// Wait blocks until the messages being sent are sent or timed out, or ctx ends: the CLI calls
// it before it exits, serve when it shuts down.
func (n *Notifier) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Message is a run's notification: a title line, then target, outcome, duration, the error (of
// the failing step, which the operation's error names) and the failed steps, masked.
func Message(id, who string, r operation.Result, mask func(string) string) (title, body string) {
	if mask == nil {
		mask = func(s string) string { return s }
	}
	outcome := history.Outcome(r)
	status := "OK"
	switch {
	case !r.OK:
		status = "FAILED (" + outcome + ")"
	case r.Skipped != "":
		status = "SKIPPED"
	}
	dur := time.Duration(r.Duration).Round(100 * time.Millisecond)
	title = fmt.Sprintf("swarm-utils: %s %s %s", r.Operation, r.Target, status)
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: %s in %s\n", r.Operation, r.Target, status, dur)
	fmt.Fprintf(&b, "started %s by %s, run %s\n", r.StartedAt.UTC().Format(time.RFC3339), who, id)
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	if r.Skipped != "" {
		fmt.Fprintf(&b, "skipped: %s\n", r.Skipped)
	}
	for _, s := range r.Steps {
		if !s.OK {
			fmt.Fprintf(&b, "step %s", s.Name)
			if s.Node != "" {
				fmt.Fprintf(&b, " on %s", s.Node)
			}
			fmt.Fprintf(&b, " failed: %s\n", s.Error)
		}
	}
	body = mask(b.String())
	if len(body) > maxMessageBytes {
		body = body[:maxMessageBytes] + "\n…"
	}
	return mask(title), body
}
