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

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/operation"
)

// DefaultTimeout bounds one message to one URL.
const DefaultTimeout = 10 * time.Second

// MaxPending bounds the messages being sent at once, a send that hangs past its timeout
// included (shoutrrr's services do not all give up): a run past it is logged, not notified, so
// that a notifier that hangs cannot pile up goroutines.
const MaxPending = 32

// maxMessageBytes keeps a message within what chat services take (Slack ~40 KB, Telegram 4 KB).
const maxMessageBytes = 3000

// Options configure a Notifier.
type Options struct {
	URLs    []string
	On      string        // config.NotifyOnFailure or config.NotifyOnAlways
	Timeout time.Duration // 0: DefaultTimeout
	// MaxPending bounds the messages in flight (0: MaxPending).
	MaxPending int
	Mask       func(string) string
	Log        *slog.Logger
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

// target is one URL's service; the URL itself is not kept, only what a log may name.
type target struct {
	n, of   int
	scheme  string
	service types.Service
}

// New checks every URL with shoutrrr. An error names a URL by its position and scheme only.
func New(o Options) (*Notifier, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Mask == nil {
		o.Mask = func(s string) string { return s }
	}
	if o.MaxPending <= 0 {
		o.MaxPending = MaxPending
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	n := &Notifier{always: o.On == config.NotifyOnAlways, timeout: o.Timeout, mask: o.Mask, log: o.Log, slots: make(chan struct{}, o.MaxPending)}
	for i, raw := range o.URLs {
		scheme := schemeOf(raw)
		var r router.ServiceRouter
		service, err := r.Locate(raw)
		if err != nil {
			return nil, fmt.Errorf("SWARM_UTILS_NOTIFY_URLS: URL %d of %d (%s://…) is not usable: %s", i+1, len(o.URLs), scheme, o.Mask(stripURL(err.Error(), raw)))
		}
		n.targets = append(n.targets, target{n: i + 1, of: len(o.URLs), scheme: scheme, service: service})
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
		n.log.Warn("notification not sent: too many are being sent already", "operation", r.Operation, "target", r.Target, "pending", cap(n.slots))
		return
	}
	title, body := Message(id, who, r, n.mask)
	n.wg.Go(func() {
		ended := n.send(title, body)
		// The slot is free once every send really returned, not at its timeout.
		go func() { <-ended; <-n.slots }()
	})
}

// send sends to every URL at once; it returns when each was sent, failed or timed out, and
// ended is closed when every send returned.
func (n *Notifier) send(title, body string) (ended <-chan struct{}) {
	var sends, waits sync.WaitGroup
	for _, t := range n.targets {
		result := make(chan error, 1)
		sends.Go(func() {
			params := types.Params{"title": title}
			result <- t.service.Send(body, &params)
		})
		waits.Go(func() {
			timer := time.NewTimer(n.timeout)
			defer timer.Stop()
			var err error
			select {
			case err = <-result:
			case <-timer.C:
				err = fmt.Errorf("no answer within %s", n.timeout)
			}
			if err != nil {
				n.log.Warn("notification failed", "notifier", fmt.Sprintf("%d of %d (%s://…)", t.n, t.of, t.scheme), "err", n.mask(err.Error()))
			}
		})
	}
	waits.Wait()
	done := make(chan struct{})
	go func() { sends.Wait(); close(done) }()
	return done
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
