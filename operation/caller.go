package operation

import "context"

// Callers that are not an API token: the cron and the command line.
const (
	CallerCron = "cron"
	CallerCLI  = "cli"
	// CallerAdmin is an admin token; label tokens and CI identities have callers of their own
	// (api/authz.Caller). A caller never holds a token, only which kind of token it was.
	CallerAdmin = "admin"
)

type callerKey struct{}

// WithCaller is ctx carrying who started the run (history, notifications).
func WithCaller(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, callerKey{}, who)
}

// CallerOf is who started the run ctx belongs to, "" when no door said.
func CallerOf(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}
