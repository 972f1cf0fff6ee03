package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

// clearEnv unsets every SWARM_UTILS_* variable for the test, so the host's do not leak in.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SWARM_UTILS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// runApp runs the whole command line with env set, its output into a buffer (not a terminal).
func runApp(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	app := New("test")
	app.Writer = &out
	err := app.Run(context.Background(), append([]string{"swarm-utils"}, args...))
	return out.String(), err
}

func TestOutputFormat(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string // "json", "text" or "" (nothing printed)
		wantErr string
	}{
		{"not a terminal: JSON", []string{"config"}, "json", ""},
		{"--format text before the command", []string{"--format", "text", "config"}, "text", ""},
		{"--format text after the command", []string{"config", "--format", "text"}, "text", ""},
		{"--format json", []string{"--format=JSON", "config"}, "json", ""},
		{"--quiet prints nothing on success", []string{"-q", "config"}, "", ""},
		{"unknown format, before anything runs", []string{"--format", "yaml", "config"}, "", "--format \"yaml\": want text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runApp(t, nil, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]string
			switch tt.want {
			case "json":
				if err := json.Unmarshal([]byte(out), &m); err != nil || m["SWARM_UTILS_INSTANCE"] != "default" {
					t.Errorf("not the configuration as JSON (%v):\n%s", err, out)
				}
			case "text":
				if !strings.Contains(out, "\nSWARM_UTILS_INSTANCE=default\n") || strings.HasPrefix(out, "{") {
					t.Errorf("not the configuration as text:\n%s", out)
				}
			default:
				if out != "" {
					t.Errorf("printed %q, want nothing", out)
				}
			}
		})
	}
}

// `config` is a check: it exits non-zero on an invalid configuration, naming the variable.
func TestConfigCommandChecks(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // "" entries: none
		check   func(m map[string]string) bool
	}{
		{"durations in Go syntax and milliseconds", map[string]string{"SWARM_UTILS_LOCK_TIMEOUT": "10s", "SWARM_UTILS_EXTRA_TIMEOUT": "2_500", "SWARM_UTILS_LOCK_LEASE": "1m"}, nil,
			func(m map[string]string) bool {
				return m["SWARM_UTILS_LOCK_TIMEOUT"] == "10000" && m["SWARM_UTILS_EXTRA_TIMEOUT"] == "2500" && m["SWARM_UTILS_LOCK_LEASE"] == "60000"
			}},
		{"complete S3", map[string]string{"SWARM_UTILS_S3_URL": "s3:9000", "SWARM_UTILS_S3_BUCKET": "b", "SWARM_UTILS_S3_ACCESS_KEY": "access-key-1", "SWARM_UTILS_S3_SECRET_KEY": "secret-key-1"}, nil,
			func(m map[string]string) bool { return m["SWARM_UTILS_S3_SECRET_KEY"] == "***" }},
		{"S3 URL with a scheme", map[string]string{"SWARM_UTILS_S3_URL": "https://s3.example.com"}, []string{"SWARM_UTILS_S3_URL", "without a scheme", "SWARM_UTILS_S3_BUCKET is not set"}, nil},
		{"cron expression", map[string]string{"SWARM_UTILS_CRON_EXPR": "every night"}, []string{"SWARM_UTILS_CRON_EXPR"}, nil},
		{"bad duration", map[string]string{"SWARM_UTILS_LOCK_TIMEOUT": "10 s"}, []string{"SWARM_UTILS_LOCK_TIMEOUT (--lock-timeout)", "30s, 10m"}, nil},
		{"bad bool", map[string]string{"SWARM_UTILS_DRY_RUN": "yes"}, []string{"SWARM_UTILS_DRY_RUN (--dry-run): must be true or false, got \"yes\""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runApp(t, tt.env, "config")
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("exit 0 for an invalid configuration:\n%s", out)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q: %v", want, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]string
			if err := json.Unmarshal([]byte(out), &m); err != nil || !tt.check(m) {
				t.Errorf("configuration (%v):\n%s", err, out)
			}
		})
	}
}

// --quiet keeps a failure's result: the one thing a quiet run must still say.
func TestQuietStillPrintsAFailure(t *testing.T) {
	for _, ok := range []bool{true, false} {
		var out bytes.Buffer
		root := &cli.Command{Name: "x", Writer: &out, Flags: outputFlags(),
			ExitErrHandler: func(context.Context, *cli.Command, error) {},
			Action: func(_ context.Context, cmd *cli.Command) error {
				return printOut(cmd, map[string]bool{"ok": ok}, func() string { return "text\n" }, ok, "the thing")
			}}
		err := root.Run(context.Background(), []string{"x", "--quiet"})
		switch {
		case ok && (err != nil || out.Len() != 0):
			t.Errorf("success: %v, printed %q; want nothing", err, out.String())
		case !ok && (err == nil || !strings.Contains(out.String(), `"ok": false`)):
			t.Errorf("failure: %v, printed %q; want the result and an error", err, out.String())
		}
	}
}

// A listing prints what it lists also with --quiet (only the log is quiet).
func TestQuietListingStillPrints(t *testing.T) {
	var out bytes.Buffer
	root := &cli.Command{Name: "x", Writer: &out, Flags: outputFlags(),
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Action: func(_ context.Context, cmd *cli.Command) error {
			return printListing(cmd, backupList{Service: "db"}, true, "backups")
		}}
	if err := root.Run(context.Background(), []string{"x", "-q", "--format", "text"}); err != nil || out.String() != "0 backups of db\n" {
		t.Errorf("quiet listing: %v, printed %q", err, out.String())
	}
}

// The completion script needs no configuration: it works with an invalid one.
func TestCompletionScript(t *testing.T) {
	out, err := runApp(t, map[string]string{"SWARM_UTILS_LOCK_TIMEOUT": "bad"}, "completion", "bash")
	if err != nil || !strings.Contains(out, "swarm-utils") || !strings.Contains(out, "complete") {
		t.Errorf("completion bash: %v\n%s", err, out)
	}
}
