package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"
)

// envPrefix starts every variable; the flag name is the rest in kebab-case.
const envPrefix = "SWARM_UTILS_"

// Variable names. The table below is the single source for flags, help and Markdown().
const (
	envCronBackupService = "SWARM_UTILS_IS_CRON_BACKUP_SERVICE"
	envCronCleanService  = "SWARM_UTILS_IS_CRON_CLEAN_SERVICE"
	envCronCleanNode     = "SWARM_UTILS_IS_CRON_CLEAN_NODE"
	envCronExpr          = "SWARM_UTILS_CRON_EXPR"

	envAdminTokenList = "SWARM_UTILS_ADMIN_TOKEN_LIST"

	envOIDCIssuers   = "SWARM_UTILS_OIDC_ISSUERS"
	envOIDCAudience  = "SWARM_UTILS_OIDC_AUDIENCE"
	envOIDCJWKSCache = "SWARM_UTILS_OIDC_JWKS_CACHE"

	envOIDCMaxTokenLifetime = "SWARM_UTILS_OIDC_MAX_TOKEN_LIFETIME"

	envDockerCLIImage  = "SWARM_UTILS_DOCKER_CLI_IMAGE_NAME"
	envBackupImage     = "SWARM_UTILS_BACKUP_IMAGE"
	envSelfImage       = "SWARM_UTILS_IMAGE"
	envBackupExecShell = "SWARM_UTILS_BACKUP_SERVICE_EXEC_SHELL"
	envCleanExecShell  = "SWARM_UTILS_CLEAN_SERVICE_EXEC_SHELL"

	envCleanNodeImageKeep  = "SWARM_UTILS_CLEAN_NODE_IMAGE_KEEP"
	envCleanNodeImageUntil = "SWARM_UTILS_CLEAN_NODE_IMAGE_UNTIL"

	envBackupExecTimeout         = "SWARM_UTILS_BACKUP_SERVICE_EXEC_TIMEOUT"
	envBackupStopTimeout         = "SWARM_UTILS_BACKUP_SERVICE_STOP_TIMEOUT"
	envBackupUploadTimeout       = "SWARM_UTILS_BACKUP_SERVICE_VOLUME_LIST_UPLOAD_TIMEOUT"
	envBackupStartTimeout        = "SWARM_UTILS_BACKUP_SERVICE_START_TIMEOUT"
	envCleanServiceExecTimeout   = "SWARM_UTILS_CLEAN_SERVICE_EXEC_TIMEOUT"
	envUpdateServiceTimeout      = "SWARM_UTILS_UPDATE_SERVICE_TIMEOUT"
	envCleanNodeImageTimeout     = "SWARM_UTILS_CLEAN_NODE_IMAGE_TIMEOUT"
	envCleanNodeBuilderTimeout   = "SWARM_UTILS_CLEAN_NODE_BUILDER_TIMEOUT"
	envCleanNodeContainerTimeout = "SWARM_UTILS_CLEAN_NODE_CONTAINER_TIMEOUT"
	envPendingTimeout            = "SWARM_UTILS_PENDING_SERVICE_TIMEOUT"
	envLockTimeout               = "SWARM_UTILS_LOCK_TIMEOUT"
	envExtraTimeout              = "SWARM_UTILS_EXTRA_TIMEOUT"
	envLockLease                 = "SWARM_UTILS_LOCK_LEASE"
	envInstance                  = "SWARM_UTILS_INSTANCE"

	envS3URL           = "SWARM_UTILS_S3_URL"
	envS3HTTPS         = "SWARM_UTILS_S3_HTTPS"
	envS3Bucket        = "SWARM_UTILS_S3_BUCKET"
	envS3AccessKey     = "SWARM_UTILS_S3_ACCESS_KEY"
	envS3SecretKey     = "SWARM_UTILS_S3_SECRET_KEY"
	envS3RetentionDays = "SWARM_UTILS_S3_RETENTION_DAYS"

	envRegistryUser     = "SWARM_UTILS_REGISTRY_USER"
	envRegistryPassword = "SWARM_UTILS_REGISTRY_PASSWORD"
	envRegistryURL      = "SWARM_UTILS_REGISTRY_URL"

	envUpdateRollbackOnFailure = "SWARM_UTILS_UPDATE_ROLLBACK_ON_FAILURE"

	envServerPort = "SWARM_UTILS_SERVER_PORT"
	envDockerHost = "SWARM_UTILS_DOCKER_HOST"
	envLogFormat  = "SWARM_UTILS_LOG_FORMAT"
	envLogLevel   = "SWARM_UTILS_LOG_LEVEL"
	envDryRun     = "SWARM_UTILS_DRY_RUN"

	envDataDir        = "SWARM_UTILS_DATA_DIR"
	envHistoryDays    = "SWARM_UTILS_HISTORY_DAYS"
	envNotifyURLs     = "SWARM_UTILS_NOTIFY_URLS"
	envNotifyOn       = "SWARM_UTILS_NOTIFY_ON"
	envUpdateAutoCron = "SWARM_UTILS_UPDATE_AUTO_CRON"

	fileSuffix = "_FILE"
)

// fileVariants are the variables that may also be read from a file (swarm secrets).
var fileVariants = []string{envAdminTokenList, envS3AccessKey, envS3SecretKey, envRegistryUser, envRegistryPassword, envNotifyURLs, envAgePassphrase, envAgeIdentity}

type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindMillis // a string flag parsed by ParseDuration, so help shows "600_000" as in SPEC §2
	kindFile
)

type variable struct {
	env      string
	kind     kind
	def      string // as written in SPEC §2; "" means no default
	usage    string // a backquoted word becomes the help placeholder
	category string
}

const (
	catCron     = "Cron"
	catAccess   = "Access"
	catImages   = "Images and shells"
	catTimeouts = "Timeouts (milliseconds such as 600_000, or 30s, 10m, 1h30m)"
	catS3       = "S3 (backups)"
	catRegistry = "Private registry (update-service)"
	catRuntime  = "Server, docker and logging"
	catHistory  = "Run history and notifications"
)

func variables() []variable {
	vars := []variable{
		{envCronBackupService, kindBool, "true", "cron runs backup-service on all labelled services", catCron},
		{envCronCleanService, kindBool, "true", "cron runs clean-service on all labelled services", catCron},
		{envCronCleanNode, kindBool, "true", "cron runs clean-node on all nodes", catCron},
		{envCronExpr, kindString, "0 0 3 * * *", "cron expression: six fields with seconds first, five (seconds = 0) or @daily; a CRON_TZ=Europe/Berlin prefix sets its zone, else TZ (default UTC)", catCron},

		{envAdminTokenList, kindString, "", "comma-separated admin `TOKENS`; an admin may act on every target; an entry `sha256:<hex>` is the token's SHA-256", catAccess},
		{envOIDCIssuers, kindString, DefaultOIDCIssuers, "comma-separated issuer `URLS` whose CI identity tokens (OIDC JWTs) are accepted; https only (http only for loopback addresses); `none` turns OIDC off", catAccess},
		{envOIDCAudience, kindString, "swarm-utils", "the `AUDIENCE` an OIDC token's aud claim must contain (GitHub: core.getIDToken(AUDIENCE); GitLab: id_tokens aud)", catAccess},
		{envOIDCJWKSCache, kindMillis, "600_000", "how long an OIDC issuer's signing keys are cached (`DURATION`); a token signed with an unknown key id refetches them, at most every 30 s", catAccess},
		{envOIDCMaxTokenLifetime, kindMillis, "86_400_000", "the longest lifetime (exp − iat) of an accepted OIDC token (`DURATION`); GitHub's live minutes, GitLab's id_tokens as long as the job may run", catAccess},

		{envDockerCLIImage, kindString, "docker:25.0.5-cli-alpine3.20", "image of the helper services", catImages},
		{envBackupExecShell, kindString, "/bin/sh", "shell for the backup.exec label (docker exec ... SHELL -c CMD)", catImages},
		{envCleanExecShell, kindString, "/bin/sh", "shell for the clean.exec label", catImages},
		{envBackupImage, kindString, "offen/docker-volume-backup:v2.48.2", "image that uploads volumes to S3", catImages},
		{envSelfImage, kindString, selfImageDefault, "swarm-utils' own image: restore-service and move-service run it on each node as the helper that puts an archive back into the volumes; default: the image of this version (swarm-utils:VERSION for a release, swarm-utils:latest for other builds); set it when you deploy from another registry", catImages},
		{envCleanNodeImageKeep, kindString, "", "comma-separated repository `GLOBS` (as update.image-allow; `registry:5000/team/*`, `nginx`) whose images clean-node never removes; a node's clean.image.keep label adds its own", catImages},
		{envCleanNodeImageUntil, kindString, "", "clean-node removes only images created longer than this `DURATION` ago (`24h`, docker's until filter); empty: any age; a node's clean.image.until label overrides it", catImages},

		{envBackupExecTimeout, kindMillis, "600_000", "for the backup pre-command in one task (`DURATION`)", catTimeouts},
		{envBackupStopTimeout, kindMillis, "30_000", "to scale a service to 0 before a backup (`DURATION`)", catTimeouts},
		{envBackupUploadTimeout, kindMillis, "600_000", "to upload one node's volumes (`DURATION`)", catTimeouts},
		{envBackupStartTimeout, kindMillis, "300_000", "to scale a service back up after a backup (`DURATION`)", catTimeouts},
		{envCleanServiceExecTimeout, kindMillis, "60_000", "for the clean command in one task (`DURATION`)", catTimeouts},
		{envUpdateServiceTimeout, kindMillis, "60_000", "for one service update (`DURATION`)", catTimeouts},
		{envCleanNodeImageTimeout, kindMillis, "60_000", "for the image prune on one node (`DURATION`)", catTimeouts},
		{envCleanNodeBuilderTimeout, kindMillis, "60_000", "for the builder prune on one node (`DURATION`)", catTimeouts},
		{envCleanNodeContainerTimeout, kindMillis, "60_000", "for the container prune on one node (`DURATION`)", catTimeouts},
		{envPendingTimeout, kindMillis, "20_000", "a helper may stay unscheduled (e.g. impossible constraint), or preparing with an error (its image cannot be pulled), before it is failed (`DURATION`)", catTimeouts},
		{envLockTimeout, kindMillis, "10_000", "a request waits for the per-target lock (`DURATION`)", catTimeouts},
		{envExtraTimeout, kindMillis, "10_000", "of slack added to an operation's total budget (`DURATION`)", catTimeouts},
		{envLockLease, kindMillis, "30_000", "the lease of the cluster-wide per-target lock (`DURATION`), renewed every third of it while the operation runs: a holder killed with -9 keeps its target at most this long; at least 3_000", catTimeouts},

		{envS3URL, kindString, "", "S3 endpoint as `HOST[:PORT]`, no scheme", catS3},
		{envS3HTTPS, kindBool, "true", "https (true) or http (false) to S3", catS3},
		{envS3Bucket, kindString, "", "S3 bucket", catS3},
		{envS3AccessKey, kindString, "", "S3 access key", catS3},
		{envS3SecretKey, kindString, "", "S3 secret key", catS3},
		{envS3RetentionDays, kindInt, "5", "backups older than this many `DAYS` are pruned", catS3},

		{envRegistryUser, kindString, "", "default private-registry user", catRegistry},
		{envRegistryPassword, kindString, "", "default private-registry password", catRegistry},
		{envRegistryURL, kindString, "", "default private-registry address (HTTPS)", catRegistry},
		{envUpdateRollbackOnFailure, kindBool, "false", "an update whose rollout fails is rolled back (docker service rollback) instead of left paused; the label swarm-utils.update.rollback-on-failure overrides it per service", catRegistry},

		{envInstance, kindString, "default", "the `NAME` of this swarm-utils: it manages only services and nodes whose label swarm-utils.instance equals it (no label: default), and only its own helpers", catRuntime},
		{envServerPort, kindInt, "3000", "HTTP `PORT` of the API", catRuntime},
		{envDockerHost, kindString, "", "DOCKER_HOST for every docker CLI call (e.g. tcp://socket-proxy:2375); empty: docker's default", catRuntime},
		{envLogFormat, kindString, "auto", "log format: auto (colour on a terminal, plain text otherwise), text (logfmt) or json", catRuntime},
		{envLogLevel, kindString, "info", "log level: debug, info, warn or error", catRuntime},
		{envDryRun, kindBool, "false", "log mutating docker commands instead of running them", catRuntime},

		{envDataDir, kindString, "/data", "`DIR` of the run history (history.db, one process at a time): serve creates it and keeps every run there; a one-shot command records its run only when the directory exists, is writable and no serve holds it", catHistory},
		{envHistoryDays, kindInt, "30", "runs are kept this many `DAYS` (GET /api/runs, the status page, GET /api/jobs/{id} after a restart); 0 turns the run history off", catHistory},
		{envNotifyURLs, kindString, "", "shoutrrr `URLS` (slack://, telegram://, smtp://, generic://…) told of runs, separated by spaces or commas; they are secrets, masked like one", catHistory},
		{envNotifyOn, kindString, "failure", "which runs are notified: failure or always", catHistory},
		{envUpdateAutoCron, kindString, "0 */5 * * * *", "cron expression (five or six fields) of the update checks of services labelled swarm-utils.update.auto=true without their own update.auto.cron", catCron},
	}
	vars = append(vars, ageVariables()...)
	// Each *_FILE variant follows its variable, so help and docs show them together.
	out := make([]variable, 0, len(vars)+len(fileVariants))
	for _, v := range vars {
		out = append(out, v)
		for _, f := range fileVariants {
			if f == v.env {
				out = append(out, variable{
					env:      v.env + fileSuffix,
					kind:     kindFile,
					usage:    fmt.Sprintf("read %s from the file at `PATH` (swarm secrets); a trailing newline is dropped; excludes %s", v.env, v.env),
					category: v.category,
				})
			}
		}
	}
	return out
}

// flagName turns SWARM_UTILS_S3_URL into s3-url.
func flagName(env string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, envPrefix), "_", "-"))
}

// Flags returns fresh flags (cli flags hold parse state) for every variable, each read from its
// environment variable.
func Flags() []cli.Flag {
	vars := variables()
	flags := make([]cli.Flag, 0, len(vars))
	for _, v := range vars {
		name, src := flagName(v.env), cli.NewValueSourceChain(nonEmptyEnv(v.env))
		// DefaultText shows each default as SPEC §2 writes it (600_000, and true for bools,
		// whose default help would otherwise omit).
		switch v.kind {
		case kindBool:
			flags = append(flags, &boolFlag{Name: name, Usage: v.usage, Category: v.category, Sources: src,
				Value: v.def == "true", DefaultText: v.def, Config: valueConfig{bad: new(string)}})
		case kindInt:
			def, err := strconv.Atoi(v.def)
			if err != nil {
				panic(fmt.Sprintf("config: default of %s: %v", v.env, err))
			}
			flags = append(flags, &intFlag{Name: name, Usage: v.usage, Category: v.category, Sources: src,
				Value: def, DefaultText: v.def, Config: valueConfig{bad: new(string)}}) // base 10: no octal "010", no hex
		case kindFile:
			flags = append(flags, &cli.StringFlag{Name: name, Usage: v.usage, Category: v.category, Sources: src,
				TakesFile: true})
		default: // kindString, kindMillis (parsed by FromCommand)
			flags = append(flags, &cli.StringFlag{Name: name, Usage: v.usage, Category: v.category, Sources: src,
				Value: v.def, DefaultText: v.def})
		}
	}
	return flags
}

// envSource reads one environment variable and treats an empty value as unset. cli.EnvVars
// would read SWARM_UTILS_S3_HTTPS= as false, silently switching S3 to plain http (a compose
// file's "${VAR}" of an unset VAR does exactly that).
type envSource struct{ key string }

func nonEmptyEnv(key string) cli.ValueSource { return envSource{key: key} }

func (e envSource) Lookup() (string, bool) {
	v, ok := os.LookupEnv(e.key)
	return v, ok && v != ""
}
func (e envSource) IsFromEnv() bool  { return true }
func (e envSource) Key() string      { return e.key }
func (e envSource) String() string   { return fmt.Sprintf("environment variable %q", e.key) }
func (e envSource) GoString() string { return fmt.Sprintf("envSource{%q}", e.key) }

// Markdown renders every variable as a table, generated from Flags() so the docs cannot drift.
func Markdown() string {
	var b strings.Builder
	b.WriteString("Durations are milliseconds (`600_000`-style underscores between digits are accepted) " +
		"or a number with a unit (`30s`, `10m`, `1h30m`; ms, s, m, h), here and in every duration label; " +
		"booleans are `true`/`false`; an empty variable counts as unset. " +
		"Every variable is also a command-line flag.\n\n")
	b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
	for _, f := range Flags() {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok || len(df.GetEnvVars()) == 0 {
			continue
		}
		def := df.GetDefaultText()
		if def == "" {
			def = "–"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| %s | `--%s` | %s | %s |\n", df.GetEnvVars()[0], f.Names()[0], def,
			strings.ReplaceAll(df.GetUsage(), "|", `\|`))
	}
	return b.String()
}

// defaultOf is env's default as the help writes it, for messages.
func defaultOf(env string) string {
	for _, v := range variables() {
		if v.env == env {
			return v.def
		}
	}
	return ""
}
