package bashexec

import (
	"context"
	"strings"
	"testing"
)

// The process-wide set ignores values too short to mask without garbling every line.
func TestGlobalSecretsMinimumLength(t *testing.T) {
	g := NewGlobalSecrets("e", "short", "longer-secret")
	g.Add("x1")
	for _, tc := range []struct{ in, want string }{
		{"level=info msg=hello", "level=info msg=hello"},
		{"a short note", "a short note"},
		{"token longer-secret here", "token *** here"},
	} {
		if got := g.Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// An ad-hoc set (one request's labels) still masks every value.
	if got := NewSecrets("e").Mask("hello"); got != "h***llo" {
		t.Errorf("NewSecrets: %q", got)
	}
}

// An operation's secrets are masked in its own commands, whatever their length, and in no
// other operation's; the process-wide set does not grow with them.
func TestSecretsPerOperation(t *testing.T) {
	global := NewGlobalSecrets("config-token")
	e, buf := newTestExec(Options{Secrets: global, DryRun: true})
	opA := WithSecrets(context.Background(), "k3y", "q1")
	opB := WithSecrets(context.Background(), "other-key")
	for _, run := range []struct {
		ctx  context.Context
		args []string
	}{
		{opA, []string{"docker", "service", "create", "--env", "AWS_SECRET_ACCESS_KEY=k3y", "--env", "B=q1", "img"}},
		{opB, []string{"docker", "service", "create", "--env", "AWS_SECRET_ACCESS_KEY=other-key", "--env", "C=hello", "img"}},
		{context.Background(), []string{"docker", "login", "config-token", "hello"}},
	} {
		if _, err := e.Run(run.ctx, Command{Args: run.args}); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for _, r := range logRecords(t, buf) {
		if r["msg"] == "dry-run" {
			lines = append(lines, r["cmd"].(string))
		}
	}
	want := []string{
		"docker service create --env 'AWS_SECRET_ACCESS_KEY=***' --env 'B=***' img",
		"docker service create --env 'AWS_SECRET_ACCESS_KEY=***' --env C=hello img",
		"docker login '***' hello",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got := global.Mask("k3y other-key"); got != "k3y other-key" {
		t.Errorf("the process-wide set grew with operations' secrets: %q", got)
	}
	if got := global.For(opA).Mask("k3y config-token"); got != "*** ***" {
		t.Errorf("For(opA): %q", got)
	}
}
