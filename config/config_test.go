package config

import (
	"context"
	"filippo.io/age"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"
)

// specVariables is the list of SPEC §2, copied by hand so a dropped or renamed variable fails.
var specVariables = []string{
	"SWARM_UTILS_IS_CRON_BACKUP_SERVICE", "SWARM_UTILS_IS_CRON_CLEAN_SERVICE", "SWARM_UTILS_IS_CRON_CLEAN_NODE",
	"SWARM_UTILS_CRON_EXPR", "SWARM_UTILS_ADMIN_TOKEN_LIST", "SWARM_UTILS_DOCKER_CLI_IMAGE_NAME",
	"SWARM_UTILS_BACKUP_SERVICE_EXEC_SHELL", "SWARM_UTILS_CLEAN_SERVICE_EXEC_SHELL",
	"SWARM_UTILS_BACKUP_SERVICE_EXEC_TIMEOUT", "SWARM_UTILS_BACKUP_SERVICE_STOP_TIMEOUT",
	"SWARM_UTILS_BACKUP_SERVICE_VOLUME_LIST_UPLOAD_TIMEOUT", "SWARM_UTILS_BACKUP_SERVICE_START_TIMEOUT",
	"SWARM_UTILS_CLEAN_SERVICE_EXEC_TIMEOUT", "SWARM_UTILS_UPDATE_SERVICE_TIMEOUT",
	"SWARM_UTILS_CLEAN_NODE_IMAGE_TIMEOUT", "SWARM_UTILS_CLEAN_NODE_BUILDER_TIMEOUT",
	"SWARM_UTILS_CLEAN_NODE_CONTAINER_TIMEOUT", "SWARM_UTILS_PENDING_SERVICE_TIMEOUT",
	"SWARM_UTILS_LOCK_TIMEOUT", "SWARM_UTILS_EXTRA_TIMEOUT",
	"SWARM_UTILS_S3_URL", "SWARM_UTILS_S3_HTTPS", "SWARM_UTILS_S3_BUCKET", "SWARM_UTILS_S3_ACCESS_KEY",
	"SWARM_UTILS_S3_SECRET_KEY", "SWARM_UTILS_S3_RETENTION_DAYS",
	"SWARM_UTILS_REGISTRY_USER", "SWARM_UTILS_REGISTRY_PASSWORD", "SWARM_UTILS_REGISTRY_URL",
	"SWARM_UTILS_SERVER_PORT", "SWARM_UTILS_BACKUP_IMAGE",
}

// extraVariables are ours beyond SPEC §2 (SPEC §9 ideas, logging, *_FILE for swarm secrets).
var extraVariables = []string{
	"SWARM_UTILS_LOCK_LEASE", "SWARM_UTILS_INSTANCE",
	"SWARM_UTILS_DOCKER_HOST", "SWARM_UTILS_LOG_FORMAT", "SWARM_UTILS_LOG_LEVEL", "SWARM_UTILS_DRY_RUN",
	"SWARM_UTILS_OIDC_ISSUERS", "SWARM_UTILS_OIDC_AUDIENCE", "SWARM_UTILS_OIDC_JWKS_CACHE", "SWARM_UTILS_OIDC_MAX_TOKEN_LIFETIME",
	"SWARM_UTILS_IMAGE", "SWARM_UTILS_CLEAN_NODE_IMAGE_KEEP", "SWARM_UTILS_CLEAN_NODE_IMAGE_UNTIL",
	"SWARM_UTILS_UPDATE_ROLLBACK_ON_FAILURE",
	"SWARM_UTILS_DATA_DIR", "SWARM_UTILS_HISTORY_DAYS", "SWARM_UTILS_NOTIFY_URLS", "SWARM_UTILS_NOTIFY_ON",
	"SWARM_UTILS_UPDATE_AUTO_CRON",
	"SWARM_UTILS_BACKUP_AGE_PASSPHRASE", "SWARM_UTILS_BACKUP_AGE_PUBLIC_KEYS", "SWARM_UTILS_BACKUP_AGE_IDENTITY",
}

var fileVariables = []string{
	"SWARM_UTILS_ADMIN_TOKEN_LIST_FILE", "SWARM_UTILS_S3_ACCESS_KEY_FILE", "SWARM_UTILS_S3_SECRET_KEY_FILE",
	"SWARM_UTILS_REGISTRY_USER_FILE", "SWARM_UTILS_REGISTRY_PASSWORD_FILE", "SWARM_UTILS_NOTIFY_URLS_FILE",
	"SWARM_UTILS_BACKUP_AGE_PASSPHRASE_FILE", "SWARM_UTILS_BACKUP_AGE_IDENTITY_FILE",
}

// specDefaults is SPEC §2's default column, typed.
var specDefaults = Config{
	Cron:            Cron{Expr: "0 0 3 * * *", BackupService: true, CleanService: true, CleanNode: true, UpdateAutoExpr: "0 */5 * * * *"},
	DockerCLIImage:  "docker:25.0.5-cli-alpine3.20",
	BackupImage:     "offen/docker-volume-backup:v2.48.2",
	SelfImage:       "swarm-utils:latest",
	BackupExecShell: "/bin/sh",
	CleanExecShell:  "/bin/sh",
	Timeouts: Timeouts{
		BackupExec: 600 * time.Second, BackupStop: 30 * time.Second,
		BackupUpload: 600 * time.Second, BackupStart: 300 * time.Second,
		CleanServiceExec: 60 * time.Second, UpdateService: 60 * time.Second,
		CleanNodeImage: 60 * time.Second, CleanNodeBuilder: 60 * time.Second, CleanNodeContainer: 60 * time.Second,
		Pending: 20 * time.Second, Lock: 10 * time.Second, Extra: 10 * time.Second,
		LockLease: 30 * time.Second,
	},
	Instance: "default",
	OIDC: OIDC{Issuers: []string{"https://token.actions.githubusercontent.com", "https://gitlab.com"},
		Audience: "swarm-utils", JWKSCache: 10 * time.Minute, MaxTokenLifetime: 24 * time.Hour},
	S3:          S3{HTTPS: true, RetentionDays: 5},
	ServerPort:  3000,
	LogFormat:   "auto",
	LogLevel:    "info",
	DataDir:     "/data",
	HistoryDays: 30,
	Notify:      Notify{On: "failure"},
}

// cleanEnv hides any SWARM_UTILS_* of the test machine (an empty variable counts as unset).
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
			t.Setenv(k, "")
		}
	}
}

// parse runs a real cli command with Flags() and returns what FromCommand read.
func parse(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	cleanEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var cfg Config
	var fromErr error
	cmd := &cli.Command{
		Name:  "test",
		Flags: Flags(),
		Action: func(_ context.Context, cmd *cli.Command) error {
			cfg, fromErr = FromCommand(cmd)
			return nil
		},
	}
	if err := cmd.Run(context.Background(), append([]string{"test"}, args...)); err != nil {
		return cfg, err
	}
	return cfg, fromErr
}

func TestDefaultsAreSpec(t *testing.T) {
	cfg, err := parse(t, nil)
	if err != nil {
		t.Fatalf("FromCommand: %v", err)
	}
	if !reflect.DeepEqual(cfg, specDefaults) {
		t.Errorf("defaults differ from SPEC §2:\n got  %+v\n want %+v", cfg, specDefaults)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestEnvAndFlags(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(Config) any // returns the value under test
		want  any
	}{
		{"duration with underscores", map[string]string{"SWARM_UTILS_LOCK_TIMEOUT": "600_000"}, nil,
			func(c Config) any { return c.Timeouts.Lock }, 600 * time.Second},
		{"duration plain", map[string]string{"SWARM_UTILS_BACKUP_SERVICE_VOLUME_LIST_UPLOAD_TIMEOUT": "1500"}, nil,
			func(c Config) any { return c.Timeouts.BackupUpload }, 1500 * time.Millisecond},
		{"duration grouped oddly", map[string]string{"SWARM_UTILS_EXTRA_TIMEOUT": "1_2_3"}, nil,
			func(c Config) any { return c.Timeouts.Extra }, 123 * time.Millisecond},
		{"duration from flag", nil, []string{"--pending-service-timeout", "5_000"},
			func(c Config) any { return c.Timeouts.Pending }, 5 * time.Second},
		{"flag beats env", map[string]string{"SWARM_UTILS_LOCK_TIMEOUT": "7"}, []string{"--lock-timeout=9"},
			func(c Config) any { return c.Timeouts.Lock }, 9 * time.Millisecond},
		{"bool false", map[string]string{"SWARM_UTILS_IS_CRON_CLEAN_NODE": "false"}, nil,
			func(c Config) any { return c.Cron.CleanNode }, false},
		{"bool flag false", nil, []string{"--s3-https=false"},
			func(c Config) any { return c.S3.HTTPS }, false},
		{"empty bool keeps default", map[string]string{"SWARM_UTILS_S3_HTTPS": ""}, nil,
			func(c Config) any { return c.S3.HTTPS }, true},
		{"empty string keeps default", map[string]string{"SWARM_UTILS_DOCKER_CLI_IMAGE_NAME": ""}, nil,
			func(c Config) any { return c.DockerCLIImage }, "docker:25.0.5-cli-alpine3.20"},
		{"dry run", map[string]string{"SWARM_UTILS_DRY_RUN": "true"}, nil,
			func(c Config) any { return c.DryRun }, true},
		{"port", map[string]string{"SWARM_UTILS_SERVER_PORT": "8080"}, nil,
			func(c Config) any { return c.ServerPort }, 8080},
		{"port is decimal", map[string]string{"SWARM_UTILS_SERVER_PORT": "010"}, nil,
			func(c Config) any { return c.ServerPort }, 10},
		{"retention", map[string]string{"SWARM_UTILS_S3_RETENTION_DAYS": "8"}, nil,
			func(c Config) any { return c.S3.RetentionDays }, 8},
		{"token list trimmed, empties dropped", map[string]string{"SWARM_UTILS_ADMIN_TOKEN_LIST": " a, b ,,c,"}, nil,
			func(c Config) any { return c.AdminTokens }, []string{"a", "b", "c"}},
		{"token list from flag", nil, []string{"--admin-token-list", "x"},
			func(c Config) any { return c.AdminTokens }, []string{"x"}},
		{"s3 and registry", map[string]string{
			"SWARM_UTILS_S3_URL": "minio:9000", "SWARM_UTILS_S3_BUCKET": "b",
			"SWARM_UTILS_S3_ACCESS_KEY": "ak", "SWARM_UTILS_S3_SECRET_KEY": "sk",
			"SWARM_UTILS_REGISTRY_USER": "u", "SWARM_UTILS_REGISTRY_PASSWORD": "p", "SWARM_UTILS_REGISTRY_URL": "reg:5000",
		}, nil, func(c Config) any { return []any{c.S3, c.Registry} },
			[]any{S3{URL: "minio:9000", HTTPS: true, Bucket: "b", AccessKey: "ak", SecretKey: "sk", RetentionDays: 5},
				Registry{User: "u", Password: "p", URL: "reg:5000"}}},
		{"log settings lower-cased", map[string]string{"SWARM_UTILS_LOG_FORMAT": "JSON", "SWARM_UTILS_LOG_LEVEL": "Debug"}, nil,
			func(c Config) any { return c.LogFormat + "/" + c.LogLevel }, "json/debug"},
		{"oidc issuers trimmed, trailing slash dropped", map[string]string{"SWARM_UTILS_OIDC_ISSUERS": " https://gitlab.example.com/ ,https://token.actions.githubusercontent.com"}, nil,
			func(c Config) any { return c.OIDC.Issuers }, []string{"https://gitlab.example.com", "https://token.actions.githubusercontent.com"}},
		{"oidc off", map[string]string{"SWARM_UTILS_OIDC_ISSUERS": "None"}, nil,
			func(c Config) any { return c.OIDC.Issuers }, []string(nil)},
		{"oidc audience and cache", nil, []string{"--oidc-audience", "https://swarm.example.com", "--oidc-jwks-cache", "60_000"},
			func(c Config) any { return c.OIDC.Audience + " " + c.OIDC.JWKSCache.String() }, "https://swarm.example.com 1m0s"},
		{"clean-node image keep and until", map[string]string{"SWARM_UTILS_CLEAN_NODE_IMAGE_KEEP": " registry:5000/team/*, nginx ,", "SWARM_UTILS_CLEAN_NODE_IMAGE_UNTIL": "24h"}, nil,
			func(c Config) any { return c.CleanNodeImage }, CleanNodeImage{Keep: []string{"registry:5000/team/*", "nginx"}, Until: 24 * time.Hour}},
		{"docker host and cron", map[string]string{"SWARM_UTILS_DOCKER_HOST": "tcp://proxy:2375", "SWARM_UTILS_CRON_EXPR": "*/5 * * * * *"}, nil,
			func(c Config) any { return c.DockerHost + " " + c.Cron.Expr }, "tcp://proxy:2375 */5 * * * * *"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("FromCommand: %v", err)
			}
			if got := tt.check(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		name, env, value string
		args             []string
	}{
		{"leading underscore", "SWARM_UTILS_LOCK_TIMEOUT", "_600", nil},
		{"trailing underscore", "SWARM_UTILS_BACKUP_SERVICE_EXEC_TIMEOUT", "600_", nil},
		{"double underscore", "SWARM_UTILS_EXTRA_TIMEOUT", "6__0", nil},
		{"negative", "SWARM_UTILS_PENDING_SERVICE_TIMEOUT", "-5", nil},
		{"not a number", "SWARM_UTILS_UPDATE_SERVICE_TIMEOUT", "abc", nil},
		{"unknown unit", "SWARM_UTILS_CLEAN_NODE_IMAGE_TIMEOUT", "10sec", nil},
		{"days are no unit", "SWARM_UTILS_LOCK_LEASE", "1d", nil},
		{"unit without number", "SWARM_UTILS_LOCK_TIMEOUT", "s", nil},
		{"negative with unit", "SWARM_UTILS_EXTRA_TIMEOUT", "-10s", nil},
		{"bool from flag", "SWARM_UTILS_DRY_RUN", "", []string{"--dry-run=maybe"}},
		{"int from flag", "SWARM_UTILS_SERVER_PORT", "", []string{"--server-port", "x"}},
		{"fraction", "SWARM_UTILS_CLEAN_NODE_BUILDER_TIMEOUT", "1.5", nil},
		{"overflow", "SWARM_UTILS_CLEAN_NODE_CONTAINER_TIMEOUT", "99999999999999999999", nil},
		{"too large for a Duration", "SWARM_UTILS_BACKUP_SERVICE_START_TIMEOUT", "9223372036854776", nil},
		{"empty flag", "SWARM_UTILS_BACKUP_SERVICE_STOP_TIMEOUT", "", []string{"--backup-service-stop-timeout="}},
		{"bad flag value", "SWARM_UTILS_CLEAN_SERVICE_EXEC_TIMEOUT", "", []string{"--clean-service-exec-timeout", "1__0"}},
		{"port not a number", "SWARM_UTILS_SERVER_PORT", "abc", nil},
		{"port hex", "SWARM_UTILS_SERVER_PORT", "0x10", nil},
		{"port with underscore", "SWARM_UTILS_SERVER_PORT", "3_000", nil},
		{"bool", "SWARM_UTILS_S3_HTTPS", "yes", nil},
		{"retention", "SWARM_UTILS_S3_RETENTION_DAYS", "five", nil},
		{"jwks cache", "SWARM_UTILS_OIDC_JWKS_CACHE", "10min", nil},
		{"until unknown unit", "SWARM_UTILS_CLEAN_NODE_IMAGE_UNTIL", "2w", nil},
		{"secret file missing", "SWARM_UTILS_ADMIN_TOKEN_LIST_FILE", "/nonexistent/admin-tokens", nil},
		{"until negative", "SWARM_UTILS_CLEAN_NODE_IMAGE_UNTIL", "-1h", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			if tt.value != "" {
				env[tt.env] = tt.value
			}
			_, err := parse(t, env, tt.args...)
			if err == nil {
				t.Fatalf("%s=%q accepted", tt.env, tt.value)
			}
			if !strings.Contains(err.Error(), tt.env) || !strings.Contains(err.Error(), "--"+flagName(tt.env)) {
				t.Errorf("error does not name %s and its flag: %v", tt.env, err)
			}
			// The accepted values, in our words, not the libraries'.
			if !strings.Contains(err.Error(), "must") && !strings.Contains(err.Error(), "want") && !strings.Contains(err.Error(), "too large") {
				t.Errorf("error does not say what is accepted: %v", err)
			}
			for _, lib := range []string{"strconv", "parse error", "could not parse", "invalid syntax", "time:", "invalid value", "no such file", "parse \""} {
				if strings.Contains(err.Error(), lib) {
					t.Errorf("error has library text %q: %v", lib, err)
				}
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"0": 0, "1": time.Millisecond, "600_000": 10 * time.Minute, "1_000_000": 1000 * time.Second,
		"30s": 30 * time.Second, "10m": 10 * time.Minute, "1h30m": 90 * time.Minute, "1.5s": 1500 * time.Millisecond,
		"250ms": 250 * time.Millisecond, "0s": 0, "24h": 24 * time.Hour}
	for in, want := range good {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "_", "_1", "1_", "1__0", "-1", "+1", "1e3", "1 000", "０", "1.5", "-1s", "10sec", "1d", "s", "1_0s", "9999999999h"} {
		got, err := ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
			continue
		}
		if strings.Contains(err.Error(), "time:") || strings.Contains(err.Error(), "strconv") {
			t.Errorf("ParseDuration(%q): library text in %q", in, err)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileVariants(t *testing.T) {
	fields := map[string]func(Config) string{
		"SWARM_UTILS_ADMIN_TOKEN_LIST":      func(c Config) string { return strings.Join(c.AdminTokens, ",") },
		"SWARM_UTILS_S3_ACCESS_KEY":         func(c Config) string { return c.S3.AccessKey },
		"SWARM_UTILS_S3_SECRET_KEY":         func(c Config) string { return c.S3.SecretKey },
		"SWARM_UTILS_REGISTRY_USER":         func(c Config) string { return c.Registry.User },
		"SWARM_UTILS_REGISTRY_PASSWORD":     func(c Config) string { return c.Registry.Password },
		"SWARM_UTILS_NOTIFY_URLS":           func(c Config) string { return strings.Join(c.Notify.URLs, " ") },
		"SWARM_UTILS_BACKUP_AGE_PASSPHRASE": func(c Config) string { return c.Age.Passphrase },
		"SWARM_UTILS_BACKUP_AGE_IDENTITY":   func(c Config) string { return c.Age.Identity },
	}
	if len(fields) != len(fileVariables) {
		t.Fatalf("test covers %d variables, fileVariables lists %d", len(fields), len(fileVariables))
	}
	for env, field := range fields {
		t.Run(env, func(t *testing.T) {
			const secret = "s3cr3t value"
			path := writeFile(t, secret+"\n")

			cfg, err := parse(t, map[string]string{env + "_FILE": path})
			if err != nil || field(cfg) != secret {
				t.Errorf("from %s_FILE: got %q, %v; want %q", env, field(cfg), err, secret)
			}

			cfg, err = parse(t, nil, "--"+flagName(env)+"-file", path)
			if err != nil || field(cfg) != secret {
				t.Errorf("from --%s-file: got %q, %v; want %q", flagName(env), field(cfg), err, secret)
			}

			_, err = parse(t, map[string]string{env: "inline-value", env + "_FILE": path})
			if err == nil || !strings.Contains(err.Error(), env+"_FILE") {
				t.Errorf("both %s and %s_FILE set: got %v, want an error naming both", env, env, err)
			} else if strings.Contains(err.Error(), "inline-value") || strings.Contains(err.Error(), secret) {
				t.Errorf("conflict error leaks the value: %v", err)
			}

			missing := filepath.Join(t.TempDir(), "nope")
			if _, err = parse(t, map[string]string{env + "_FILE": missing}); err == nil || !strings.Contains(err.Error(), env+"_FILE") {
				t.Errorf("unreadable file: got %v, want an error naming %s_FILE", err, env)
			}

			if _, err = parse(t, map[string]string{env + "_FILE": writeFile(t, "\n")}); err == nil || !strings.Contains(err.Error(), "empty") {
				t.Errorf("empty file: got %v, want an error", err)
			}
		})
	}
}

func TestFileKeepsInnerNewlinesAndCRLF(t *testing.T) {
	cfg, err := parse(t, map[string]string{"SWARM_UTILS_ADMIN_TOKEN_LIST_FILE": writeFile(t, "a, b\r\n")})
	if err != nil || !slices.Equal(cfg.AdminTokens, []string{"a", "b"}) {
		t.Errorf("got %q, %v", cfg.AdminTokens, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // variables the error must name; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"zero timeout", func(c *Config) { c.Timeouts.Lock = 0 }, []string{"SWARM_UTILS_LOCK_TIMEOUT"}},
		{"negative timeout", func(c *Config) { c.Timeouts.BackupUpload = -time.Second },
			[]string{"SWARM_UTILS_BACKUP_SERVICE_VOLUME_LIST_UPLOAD_TIMEOUT"}},
		{"every timeout", func(c *Config) { c.Timeouts = Timeouts{} }, specVariables[8:20]},
		{"lock lease too short", func(c *Config) { c.Timeouts.LockLease = 2 * time.Second }, []string{"SWARM_UTILS_LOCK_LEASE"}},
		{"lock lease zero", func(c *Config) { c.Timeouts.LockLease = 0 }, []string{"SWARM_UTILS_LOCK_LEASE"}},
		{"lock lease minimum", func(c *Config) { c.Timeouts.LockLease = MinLockLease }, nil},
		{"instance empty", func(c *Config) { c.Instance = "" }, []string{"SWARM_UTILS_INSTANCE"}},
		{"instance with a space", func(c *Config) { c.Instance = "team a" }, []string{"SWARM_UTILS_INSTANCE"}},
		{"instance starting with a dash", func(c *Config) { c.Instance = "-a" }, []string{"SWARM_UTILS_INSTANCE"}},
		{"instance team-a.prod_1", func(c *Config) { c.Instance = "team-a.prod_1" }, nil},
		{"port 0", func(c *Config) { c.ServerPort = 0 }, []string{"SWARM_UTILS_SERVER_PORT"}},
		{"port too big", func(c *Config) { c.ServerPort = 65536 }, []string{"SWARM_UTILS_SERVER_PORT"}},
		{"port max", func(c *Config) { c.ServerPort = 65535 }, nil},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, []string{"SWARM_UTILS_LOG_FORMAT"}},
		{"log level", func(c *Config) { c.LogLevel = "trace" }, []string{"SWARM_UTILS_LOG_LEVEL"}},
		{"images and cron", func(c *Config) { c.DockerCLIImage, c.BackupImage, c.Cron.Expr = "", "", "" },
			[]string{"SWARM_UTILS_DOCKER_CLI_IMAGE_NAME", "SWARM_UTILS_BACKUP_IMAGE", "SWARM_UTILS_CRON_EXPR"}},
		{"shells", func(c *Config) { c.BackupExecShell, c.CleanExecShell = "", "" },
			[]string{"SWARM_UTILS_BACKUP_SERVICE_EXEC_SHELL", "SWARM_UTILS_CLEAN_SERVICE_EXEC_SHELL"}},
		{"retention", func(c *Config) { c.S3.RetentionDays = 0 }, []string{"SWARM_UTILS_S3_RETENTION_DAYS"}},
		{"keep glob", func(c *Config) { c.CleanNodeImage.Keep = []string{"ok/*", "bad["} }, []string{"SWARM_UTILS_CLEAN_NODE_IMAGE_KEEP", "bad["}},
		{"S3 and tokens are not required", func(c *Config) { c.S3.URL, c.AdminTokens = "", nil }, nil},
		{"oidc issuer over plain http", func(c *Config) { c.OIDC.Issuers = []string{"http://gitlab.example.com"} }, []string{"SWARM_UTILS_OIDC_ISSUERS", "https"}},
		{"oidc issuer over http on loopback", func(c *Config) {
			c.OIDC.Issuers = []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"}
		}, nil},
		{"oidc issuer without scheme", func(c *Config) { c.OIDC.Issuers = []string{"gitlab.com"} }, []string{"SWARM_UTILS_OIDC_ISSUERS"}},
		{"oidc issuer with a query", func(c *Config) { c.OIDC.Issuers = []string{"https://gitlab.com/?x=1"} }, []string{"SWARM_UTILS_OIDC_ISSUERS"}},
		{"oidc without audience", func(c *Config) { c.OIDC.Audience = "" }, []string{"SWARM_UTILS_OIDC_AUDIENCE"}},
		{"oidc zero cache", func(c *Config) { c.OIDC.JWKSCache = 0 }, []string{"SWARM_UTILS_OIDC_JWKS_CACHE"}},
		{"oidc zero token lifetime", func(c *Config) { c.OIDC.MaxTokenLifetime = 0 }, []string{"SWARM_UTILS_OIDC_MAX_TOKEN_LIFETIME"}},
		{"oidc off needs no audience", func(c *Config) { c.OIDC = OIDC{} }, nil},
		{"history off", func(c *Config) { c.HistoryDays = 0 }, nil},
		{"history days negative", func(c *Config) { c.HistoryDays = -1 }, []string{"SWARM_UTILS_HISTORY_DAYS"}},
		{"history without a data dir", func(c *Config) { c.DataDir = "" }, []string{"SWARM_UTILS_DATA_DIR"}},
		{"notify on", func(c *Config) { c.Notify.On = "sometimes" }, []string{"SWARM_UTILS_NOTIFY_ON", "failure or always"}},
		{"notify always", func(c *Config) { c.Notify.On = "always" }, nil},
		{"notify URL without a scheme, not shown", func(c *Config) {
			c.Notify.URLs = []string{"slack://hook:T0/B0/x", "hooks.example.com/s3cret-path"}
		}, []string{"SWARM_UTILS_NOTIFY_URLS", "URL 2 of 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := specDefaults
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want errors naming %v", tt.want)
			}
			for _, env := range tt.want {
				if !strings.Contains(err.Error(), env) {
					t.Errorf("error does not name %s: %v", env, err)
				}
			}
		})
	}
}

func TestS3Validate(t *testing.T) {
	valid := S3{URL: "s3.local:7070", HTTPS: true, Bucket: "b", AccessKey: "ak", SecretKey: "sk", RetentionDays: 5}
	hint := func(env, label string) string {
		return env + " is not set (or set swarm-utils.backup.volume-list-upload.s3." + label + " on the service)"
	}
	tests := []struct {
		name   string
		mutate func(*S3)
		want   []string // exact lines of the joined error; nil means valid
	}{
		{"valid", func(*S3) {}, nil},
		{"http is fine", func(s *S3) { s.HTTPS = false }, nil},
		{"no url", func(s *S3) { s.URL = "" }, []string{hint("SWARM_UTILS_S3_URL", "url")}},
		{"no bucket", func(s *S3) { s.Bucket = "" }, []string{hint("SWARM_UTILS_S3_BUCKET", "bucket")}},
		{"no access key", func(s *S3) { s.AccessKey = "" }, []string{hint("SWARM_UTILS_S3_ACCESS_KEY", "access-key")}},
		{"no secret key", func(s *S3) { s.SecretKey = "" }, []string{hint("SWARM_UTILS_S3_SECRET_KEY", "secret-key")}},
		{"nothing", func(s *S3) { *s = S3{RetentionDays: 5} }, []string{
			hint("SWARM_UTILS_S3_URL", "url"), hint("SWARM_UTILS_S3_BUCKET", "bucket"),
			hint("SWARM_UTILS_S3_ACCESS_KEY", "access-key"), hint("SWARM_UTILS_S3_SECRET_KEY", "secret-key")}},
		{"scheme", func(s *S3) { s.URL = "https://s3.local" }, []string{
			`SWARM_UTILS_S3_URL (or label swarm-utils.backup.volume-list-upload.s3.url) must be host[:port] without a scheme (use SWARM_UTILS_S3_HTTPS for https/http), got "https://s3.local"`}},
		{"path", func(s *S3) { s.URL = "s3.local/bucket" }, []string{
			`SWARM_UTILS_S3_URL (or label swarm-utils.backup.volume-list-upload.s3.url) must be host[:port] without a path, got "s3.local/bucket"`}},
		{"retention", func(s *S3) { s.RetentionDays = 0 }, []string{
			"SWARM_UTILS_S3_RETENTION_DAYS (or label swarm-utils.backup.volume-list-upload.s3.retention-days) must be at least 1 day, got 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid
			tt.mutate(&s)
			err := s.Validate()
			if tt.want == nil {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %+v", s)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	c := specDefaults
	c.AdminTokens = []string{"admin-token-one", "admin-token-two"}
	c.S3 = S3{URL: "s3.local", Bucket: "bucket", AccessKey: "AKIA-ACCESS", SecretKey: "very-secret-key", RetentionDays: 5}
	c.Registry = Registry{User: "ci", Password: "registry-pass", URL: "reg.local"}
	secrets := []string{"admin-token-one", "admin-token-two", "AKIA-ACCESS", "very-secret-key", "registry-pass"}

	if got := c.SecretValues(); !slices.Equal(got, secrets) {
		t.Errorf("SecretValues() = %q, want %q", got, secrets)
	}
	m := c.Masked()
	for k, v := range m {
		for _, s := range secrets {
			if strings.Contains(v, s) {
				t.Errorf("Masked()[%s] = %q contains a secret", k, v)
			}
		}
	}
	want := map[string]string{
		"SWARM_UTILS_ADMIN_TOKEN_LIST": "***,***", "SWARM_UTILS_S3_ACCESS_KEY": "***",
		"SWARM_UTILS_S3_SECRET_KEY": "***", "SWARM_UTILS_REGISTRY_PASSWORD": "***",
		"SWARM_UTILS_REGISTRY_USER": "ci", "SWARM_UTILS_S3_URL": "s3.local", "SWARM_UTILS_LOCK_TIMEOUT": "10000",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("Masked()[%s] = %q, want %q", k, m[k], v)
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	all := slices.Sorted(slices.Values(append(slices.Clone(specVariables), extraVariables...)))
	if !slices.Equal(keys, all) {
		t.Errorf("Masked() keys\n  %q\nwant every variable\n  %q", keys, all)
	}
	if got := (Config{}).Masked()["SWARM_UTILS_S3_SECRET_KEY"]; got != "" {
		t.Errorf("an unset secret shows %q, want empty", got)
	}
}

func TestMarkdownListsEveryVariable(t *testing.T) {
	md := Markdown()
	all := slices.Concat(specVariables, extraVariables, fileVariables)
	for _, env := range all {
		row := "| " + env + " | `--" + flagName(env) + "` |"
		if !strings.Contains(md, row) {
			t.Errorf("Markdown() has no row starting %q", row)
		}
	}
	if rows := strings.Count(md, "\n| SWARM_UTILS_"); rows != len(all) {
		t.Errorf("Markdown() has %d variable rows, want %d", rows, len(all))
	}
	for _, cell := range []string{
		"| `600_000` |", "| `0 0 3 * * *` |", "| `docker:25.0.5-cli-alpine3.20` |",
		"| `offen/docker-volume-backup:v2.48.2` |", "| `3000` |", "| `true` |",
	} {
		if !strings.Contains(md, cell) {
			t.Errorf("Markdown() lacks the SPEC default cell %q", cell)
		}
	}
}

func TestFlagNamesAreKebabCaseOfTheVariable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Flags() {
		df := f.(cli.DocGenerationFlag)
		envs := df.GetEnvVars()
		if len(envs) != 1 {
			t.Fatalf("flag %s reads %v, want exactly one variable", f.Names()[0], envs)
		}
		if want := flagName(envs[0]); f.Names()[0] != want {
			t.Errorf("flag for %s is --%s, want --%s", envs[0], f.Names()[0], want)
		}
		if seen[envs[0]] {
			t.Errorf("%s has two flags", envs[0])
		}
		seen[envs[0]] = true
	}
	for _, env := range []string{"SWARM_UTILS_CRON_EXPR", "SWARM_UTILS_BACKUP_SERVICE_EXEC_TIMEOUT", "SWARM_UTILS_S3_URL",
		"SWARM_UTILS_ADMIN_TOKEN_LIST", "SWARM_UTILS_DOCKER_CLI_IMAGE_NAME", "SWARM_UTILS_ADMIN_TOKEN_LIST_FILE"} {
		if !seen[env] {
			t.Errorf("no flag for %s", env)
		}
	}
	if got := flagName("SWARM_UTILS_ADMIN_TOKEN_LIST_FILE"); got != "admin-token-list-file" {
		t.Errorf("flagName = %q", got)
	}
}

func TestAgeValidate(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a    Age
		want string // in the error; "" = valid
	}{
		{"passphrase", Age{Passphrase: "p"}, ""},
		{"keys and identity", Age{PublicKeys: []string{id.Recipient().String()}, Identity: id.String()}, ""},
		{"both", Age{Passphrase: "p", PublicKeys: []string{id.Recipient().String()}}, "not both"},
		{"a bad key", Age{PublicKeys: []string{"age1nope"}}, "not an age public key"},
		{"a bad identity", Age{Identity: "AGE-SECRET-KEY-1NOPE-secret-text"}, "not an age identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			tc.a.validate(func(env, f string, args ...any) { got = append(got, env+": "+fmt.Sprintf(f, args...)) })
			switch all := strings.Join(got, "; "); {
			case tc.want == "" && all != "":
				t.Errorf("refused: %s", all)
			case tc.want != "" && !strings.Contains(all, tc.want):
				t.Errorf("errors %q, want %q", all, tc.want)
			case strings.Contains(all, "secret-text"):
				t.Errorf("the identity is in the error: %s", all)
			}
		})
	}
}
