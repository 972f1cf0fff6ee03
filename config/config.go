// Package config holds every SWARM_UTILS_* variable (SPEC §2) as one typed struct; each
// variable is also a command-line flag.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
)

type S3 struct {
	URL                          string // host[:port], no scheme
	HTTPS                        bool
	Bucket, AccessKey, SecretKey string
	RetentionDays                int
}

type Registry struct {
	User, Password, URL string
}

type Timeouts struct {
	BackupExec, BackupStop, BackupUpload, BackupStart    time.Duration
	CleanServiceExec, UpdateService                      time.Duration
	CleanNodeImage, CleanNodeBuilder, CleanNodeContainer time.Duration
	Pending, Lock, Extra                                 time.Duration
	LockLease                                            time.Duration // SWARM_UTILS_LOCK_LEASE
}

// OIDC configures CI identity tokens (GitHub Actions, GitLab CI JWTs); no Issuers: off.
type OIDC struct {
	Issuers   []string // URLs without a trailing "/", as in the tokens' iss claim
	Audience  string   // a token's aud must contain it
	JWKSCache time.Duration
	// MaxTokenLifetime bounds a token's exp − iat; longer-lived tokens are refused.
	MaxTokenLifetime time.Duration
}

// DefaultOIDCIssuers are GitHub Actions' and gitlab.com's issuers.
const DefaultOIDCIssuers = "https://token.actions.githubusercontent.com,https://gitlab.com"

type Cron struct {
	Expr                                   string
	BackupService, CleanService, CleanNode bool
	// UpdateAutoExpr: SWARM_UTILS_UPDATE_AUTO_CRON, the update checks' schedule (updates by digest).
	UpdateAutoExpr string
}

// CleanNodeImage are clean-node's image rules on every node.
type CleanNodeImage struct {
	Keep  []string      // repository globs whose images are never removed
	Until time.Duration // only images older than this are removed; 0: any age
}

// Notify is where runs are told of (SWARM_UTILS_NOTIFY_*).
type Notify struct {
	URLs []string // shoutrrr URLs, secrets
	On   string   // NotifyOnFailure or NotifyOnAlways
}

// SWARM_UTILS_NOTIFY_ON values.
const (
	NotifyOnFailure = "failure"
	NotifyOnAlways  = "always"
)

type Config struct {
	Cron            Cron
	AdminTokens     []string
	OIDC            OIDC
	DockerCLIImage  string // SWARM_UTILS_DOCKER_CLI_IMAGE_NAME
	BackupImage     string // SWARM_UTILS_BACKUP_IMAGE
	SelfImage       string // SWARM_UTILS_IMAGE: the restore helper's image
	BackupExecShell string
	CleanExecShell  string
	CleanNodeImage  CleanNodeImage
	Timeouts        Timeouts
	S3              S3
	Registry        Registry
	// UpdateRollbackOnFailure: the default of the label swarm-utils.update.rollback-on-failure.
	UpdateRollbackOnFailure bool
	ServerPort              int
	DockerHost              string // passed as DOCKER_HOST to docker CLI calls; empty = docker's default
	LogFormat               string // auto|text|json
	LogLevel                string // debug|info|warn|error
	DryRun                  bool   // log mutating docker commands instead of running them
	Instance                string // SWARM_UTILS_INSTANCE: the swarm-utils.instance label value this one manages
	DataDir                 string // SWARM_UTILS_DATA_DIR: the run history's directory
	HistoryDays             int    // SWARM_UTILS_HISTORY_DAYS; 0: no run history
	Notify                  Notify
	Age                     Age // SWARM_UTILS_BACKUP_AGE_*: archive encryption
}

// FromCommand reads the flags of Flags() from cmd (or an ancestor), parses the durations and
// resolves the *_FILE variants. All problems are reported together, each naming its variable.
func FromCommand(cmd *cli.Command) (Config, error) {
	r := reader{cmd: cmd}
	c := Config{
		Cron: Cron{
			Expr:          r.str(envCronExpr),
			BackupService: r.boolean(envCronBackupService),
			CleanService:  r.boolean(envCronCleanService),
			CleanNode:     r.boolean(envCronCleanNode),

			UpdateAutoExpr: r.str(envUpdateAutoCron),
		},
		AdminTokens: splitList(r.secret(envAdminTokenList)),
		OIDC: OIDC{
			Issuers:   oidcIssuers(r.str(envOIDCIssuers)),
			Audience:  r.str(envOIDCAudience),
			JWKSCache: r.millis(envOIDCJWKSCache),

			MaxTokenLifetime: r.millis(envOIDCMaxTokenLifetime),
		},
		DockerCLIImage:  r.str(envDockerCLIImage),
		BackupImage:     r.str(envBackupImage),
		SelfImage:       r.str(envSelfImage),
		BackupExecShell: r.str(envBackupExecShell),
		CleanExecShell:  r.str(envCleanExecShell),
		CleanNodeImage: CleanNodeImage{
			Keep:  splitList(r.str(envCleanNodeImageKeep)),
			Until: r.duration(envCleanNodeImageUntil),
		},
		Timeouts: Timeouts{
			BackupExec:         r.millis(envBackupExecTimeout),
			BackupStop:         r.millis(envBackupStopTimeout),
			BackupUpload:       r.millis(envBackupUploadTimeout),
			BackupStart:        r.millis(envBackupStartTimeout),
			CleanServiceExec:   r.millis(envCleanServiceExecTimeout),
			UpdateService:      r.millis(envUpdateServiceTimeout),
			CleanNodeImage:     r.millis(envCleanNodeImageTimeout),
			CleanNodeBuilder:   r.millis(envCleanNodeBuilderTimeout),
			CleanNodeContainer: r.millis(envCleanNodeContainerTimeout),
			Pending:            r.millis(envPendingTimeout),
			Lock:               r.millis(envLockTimeout),
			Extra:              r.millis(envExtraTimeout),
			LockLease:          r.millis(envLockLease),
		},
		S3: S3{
			URL:           r.str(envS3URL),
			HTTPS:         r.boolean(envS3HTTPS),
			Bucket:        r.str(envS3Bucket),
			AccessKey:     r.secret(envS3AccessKey),
			SecretKey:     r.secret(envS3SecretKey),
			RetentionDays: r.integer(envS3RetentionDays),
		},
		Registry: Registry{
			User:     r.secret(envRegistryUser),
			Password: r.secret(envRegistryPassword),
			URL:      r.str(envRegistryURL),
		},
		UpdateRollbackOnFailure: r.boolean(envUpdateRollbackOnFailure),
		ServerPort:              r.integer(envServerPort),
		DockerHost:              r.str(envDockerHost),
		LogFormat:               strings.ToLower(r.str(envLogFormat)),
		LogLevel:                strings.ToLower(r.str(envLogLevel)),
		DryRun:                  r.boolean(envDryRun),
		Instance:                r.str(envInstance),
		DataDir:                 r.str(envDataDir),
		HistoryDays:             r.integer(envHistoryDays),
		Notify:                  Notify{URLs: splitURLs(r.secret(envNotifyURLs)), On: strings.ToLower(r.str(envNotifyOn))},
		Age:                     r.age(),
	}
	return c, errors.Join(r.errs...)
}

type reader struct {
	cmd  *cli.Command
	errs []error
}

func (r *reader) str(env string) string { return strings.TrimSpace(r.cmd.String(flagName(env))) }
func (r *reader) boolean(env string) bool {
	if raw, bad := badValue(r.cmd, flagName(env)); bad {
		r.fail(env, "must be true or false, got %q", raw)
	}
	return r.cmd.Bool(flagName(env))
}

func (r *reader) integer(env string) int {
	if raw, bad := badValue(r.cmd, flagName(env)); bad {
		r.fail(env, "must be a whole number such as %s, got %q", defaultOf(env), raw)
	}
	return r.cmd.Int(flagName(env))
}
func (r *reader) fail(env, f string, a ...any) {
	r.errs = append(r.errs, describe(env, fmt.Sprintf(f, a...)))
}

func describe(env, problem string) error {
	return fmt.Errorf("%s (--%s): %s", env, flagName(env), problem)
}

func (r *reader) millis(env string) time.Duration {
	raw := r.str(env)
	d, err := ParseDuration(raw)
	if err != nil {
		r.fail(env, "%q %v", raw, err)
	}
	return d
}

// duration reads an optional duration; empty is 0.
func (r *reader) duration(env string) time.Duration {
	if r.str(env) == "" {
		return 0
	}
	return r.millis(env)
}

// secret reads env, or the file named by env_FILE. Values are never put into errors.
func (r *reader) secret(env string) string {
	value := r.cmd.String(flagName(env))
	path := r.cmd.String(flagName(env + fileSuffix))
	if path == "" {
		return value
	}
	if value != "" {
		r.fail(env, "both %s and %s%s are set; use one of them", env, env, fileSuffix)
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		why := "cannot be read"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			why = "does not exist"
		case errors.Is(err, fs.ErrPermission):
			why = "is not readable by this user"
		}
		r.errs = append(r.errs, describe(env+fileSuffix, fmt.Sprintf("file %q %s; want a readable file holding the value of %s (a swarm secret: /run/secrets/NAME)", path, why, env)))
		return ""
	}
	value = strings.TrimRight(string(b), "\r\n")
	if value == "" {
		r.errs = append(r.errs, describe(env+fileSuffix, fmt.Sprintf("file %q is empty", path)))
	}
	return value
}

// DurationSyntax is what ParseDuration accepts, for messages.
const DurationSyntax = "milliseconds such as 600_000, or a number with a unit such as 30s, 10m or 1h30m"

// ParseDuration reads a non-negative duration, as every duration variable and label takes it:
// plain milliseconds ("_" allowed between digits, "600_000"), as SPEC §2 writes them, or a
// number with a unit ("30s", "1.5m", "1h30m"; ns, us, ms, s, m, h). Its errors say what is
// accepted, without the strconv or time packages' text.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("is empty; want " + DurationSyntax)
	}
	if s[0] == '-' {
		return 0, errors.New("is negative; want " + DurationSyntax)
	}
	if last := s[len(s)-1]; last < '0' || last > '9' {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errors.New("is not a duration; want " + DurationSyntax)
		}
		return d, nil
	}
	isDigit := func(i int) bool { return i >= 0 && i < len(s) && s[i] >= '0' && s[i] <= '9' }
	var digits strings.Builder
	for i := range len(s) {
		switch {
		case isDigit(i):
			digits.WriteByte(s[i])
		case s[i] == '_' && isDigit(i-1) && isDigit(i+1):
		default:
			return 0, errors.New(`is not a duration; want ` + DurationSyntax + ` ("_" only between two digits)`)
		}
	}
	n, err := strconv.ParseInt(digits.String(), 10, 64)
	if err != nil || n > math.MaxInt64/int64(time.Millisecond) {
		return 0, errors.New("is too large")
	}
	return time.Duration(n) * time.Millisecond, nil
}

// splitList splits a comma-separated list, trimming spaces and dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// urlStart is where the next URL of a list begins: a comma before "scheme://". A comma inside
// a URL (telegram's chats=a,b) is kept.
var urlStart = regexp.MustCompile(`,\s*[A-Za-z][A-Za-z0-9+.-]*://`)

// splitURLs splits a list of URLs separated by spaces, newlines or commas.
func splitURLs(s string) []string {
	var out []string
	for _, field := range strings.Fields(s) {
		for field = strings.Trim(field, ","); field != ""; {
			loc := urlStart.FindStringIndex(field[1:])
			if loc == nil {
				out = append(out, field)
				break
			}
			out = append(out, field[:loc[0]+1])
			field = strings.Trim(field[loc[0]+2:], ",")
		}
	}
	return out
}

// minURLPart is the shortest part of a notification URL kept as a secret: shorter ones are
// settings such as template=json or disabletls=yes (bashexec.MinGlobalSecret would skip them
// anyway, and count them as secrets too short to mask).
const minURLPart = 6

// urlSecrets are the parts of a notification URL that may come back in a notifier's error
// text (user, password, host+path, path, query values), beside the URL itself.
func urlSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	if u.User != nil {
		out = append(out, u.User.Username())
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	out = append(out, strings.Trim(u.Path, "/"), u.Host+u.Path)
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	return slices.DeleteFunc(out, func(p string) bool { return p != raw && len(p) < minURLPart })
}

// oidcIssuers reads SWARM_UTILS_OIDC_ISSUERS: "none" is no issuer; a trailing "/" is dropped,
// since issuers write their iss claim without one.
func oidcIssuers(s string) []string {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return nil
	}
	var out []string
	for _, iss := range splitList(s) {
		out = append(out, strings.TrimRight(iss, "/"))
	}
	return out
}

// CheckOIDCURL tells why raw may not be an OIDC issuer or key URL: it must be an absolute https
// URL without query or fragment. Plain http is allowed only for a loopback host (a local test
// issuer), never across a network, where the keys could be swapped on the way.
func CheckOIDCURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL; want https://host[/path]", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%q must be an absolute URL (https://host[/path]) without user, query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (http is allowed only for loopback addresses)", raw)
	}
	return fmt.Errorf("%q must be an https URL", raw)
}

// IsLoopbackHost tells whether host (no port) is localhost or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MinLockLease is the shortest SWARM_UTILS_LOCK_LEASE: a renewal (two docker calls) must fit
// in a third of it.
const MinLockLease = 3 * time.Second

// validInstance: an instance name goes into labels and helper names.
func validInstance(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '-' && r != '_' && r != '.') {
			return false
		}
	}
	return true
}

// Validate checks what every command needs; S3 and registry values are checked where used.
func (c Config) Validate() error {
	var errs []error
	bad := func(env, f string, a ...any) { errs = append(errs, describe(env, fmt.Sprintf(f, a...))) }

	for _, t := range []struct {
		env string
		d   time.Duration
	}{
		{envBackupExecTimeout, c.Timeouts.BackupExec},
		{envBackupStopTimeout, c.Timeouts.BackupStop},
		{envBackupUploadTimeout, c.Timeouts.BackupUpload},
		{envBackupStartTimeout, c.Timeouts.BackupStart},
		{envCleanServiceExecTimeout, c.Timeouts.CleanServiceExec},
		{envUpdateServiceTimeout, c.Timeouts.UpdateService},
		{envCleanNodeImageTimeout, c.Timeouts.CleanNodeImage},
		{envCleanNodeBuilderTimeout, c.Timeouts.CleanNodeBuilder},
		{envCleanNodeContainerTimeout, c.Timeouts.CleanNodeContainer},
		{envPendingTimeout, c.Timeouts.Pending},
		{envLockTimeout, c.Timeouts.Lock},
		{envExtraTimeout, c.Timeouts.Extra},
		{envLockLease, c.Timeouts.LockLease},
	} {
		if t.d <= 0 {
			bad(t.env, "must be more than 0 (%s), got %s", DurationSyntax, t.d)
		}
	}
	for _, glob := range c.CleanNodeImage.Keep {
		if _, err := path.Match(glob, ""); err != nil {
			bad(envCleanNodeImageKeep, "%q is not a valid glob: %v", glob, err)
		}
	}
	if c.Timeouts.LockLease > 0 && c.Timeouts.LockLease < MinLockLease {
		bad(envLockLease, "must be at least %s (a renewal must fit in a third of it), got %s", MinLockLease, c.Timeouts.LockLease)
	}
	if !validInstance(c.Instance) {
		bad(envInstance, "must be 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit, got %q", c.Instance)
	}
	for _, iss := range c.OIDC.Issuers {
		if err := CheckOIDCURL(iss); err != nil {
			bad(envOIDCIssuers, "%v", err)
		}
	}
	if len(c.OIDC.Issuers) > 0 {
		if c.OIDC.Audience == "" {
			bad(envOIDCAudience, "must not be empty while %s names issuers", envOIDCIssuers)
		}
		if c.OIDC.MaxTokenLifetime <= 0 {
			bad(envOIDCMaxTokenLifetime, "must be more than 0 (%s), got %s", DurationSyntax, c.OIDC.MaxTokenLifetime)
		}
		if c.OIDC.JWKSCache <= 0 {
			bad(envOIDCJWKSCache, "must be more than 0 (%s), got %s", DurationSyntax, c.OIDC.JWKSCache)
		}
	}
	if c.ServerPort < 1 || c.ServerPort > 65535 {
		bad(envServerPort, "must be a port between 1 and 65535, got %d", c.ServerPort)
	}
	if c.HistoryDays < 0 {
		bad(envHistoryDays, "must be 0 (no run history) or a number of days, got %d", c.HistoryDays)
	}
	if c.HistoryDays > 0 && c.DataDir == "" {
		bad(envDataDir, "must not be empty while %s is above 0", envHistoryDays)
	}
	switch c.Notify.On {
	case NotifyOnFailure, NotifyOnAlways:
	default:
		bad(envNotifyOn, "must be failure or always, got %q", c.Notify.On)
	}
	for i, u := range c.Notify.URLs {
		// The URL is a secret: the error names its position and scheme only.
		if scheme, _, ok := strings.Cut(u, "://"); !ok || scheme == "" || strings.ContainsAny(scheme, "/?#@") {
			bad(envNotifyURLs, "URL %d of %d is not a shoutrrr URL (service://…, e.g. slack://, generic://host/path)", i+1, len(c.Notify.URLs))
		}
	}
	if c.S3.RetentionDays < 1 {
		bad(envS3RetentionDays, "must be at least 1 day, got %d", c.S3.RetentionDays)
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		bad(envLogFormat, "must be auto, text or json, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad(envLogLevel, "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	for _, s := range []struct{ env, v string }{
		{envCronExpr, c.Cron.Expr},
		{envDockerCLIImage, c.DockerCLIImage},
		{envBackupImage, c.BackupImage},
		{envSelfImage, c.SelfImage},
		{envBackupExecShell, c.BackupExecShell},
		{envCleanExecShell, c.CleanExecShell},
	} {
		if s.v == "" {
			bad(s.env, "must not be empty")
		}
	}
	c.Age.validate(bad)
	return errors.Join(errs...)
}

// s3Label is where a service overrides each S3 value (SPEC §3).
const s3Label = "swarm-utils.backup.volume-list-upload.s3."

// Validate checks the S3 settings a backup needs, after label overrides were applied. Each
// problem names the variable and the label that would fix it.
func (c S3) Validate() error {
	var errs []error
	missing := func(env, label string) {
		errs = append(errs, fmt.Errorf("%s is not set (or set %s%s on the service)", env, s3Label, label))
	}
	switch {
	case c.URL == "":
		missing(envS3URL, "url")
	case strings.Contains(c.URL, "://"):
		errs = append(errs, fmt.Errorf("%s (or label %surl) must be host[:port] without a scheme (use %s for https/http), got %q",
			envS3URL, s3Label, envS3HTTPS, c.URL))
	case strings.ContainsAny(c.URL, "/ \t\r\n"):
		errs = append(errs, fmt.Errorf("%s (or label %surl) must be host[:port] without a path, got %q", envS3URL, s3Label, c.URL))
	}
	if c.Bucket == "" {
		missing(envS3Bucket, "bucket")
	}
	if c.AccessKey == "" {
		missing(envS3AccessKey, "access-key")
	}
	if c.SecretKey == "" {
		missing(envS3SecretKey, "secret-key")
	}
	if c.RetentionDays < 1 {
		errs = append(errs, fmt.Errorf("%s (or label %sretention-days) must be at least 1 day, got %d",
			envS3RetentionDays, s3Label, c.RetentionDays))
	}
	return errors.Join(errs...)
}

// SecretValues lists the configured secrets, for masking in logs, results and errors.
func (c Config) SecretValues() []string {
	var out []string
	for _, s := range append(append([]string{}, c.AdminTokens...), c.S3.AccessKey, c.S3.SecretKey, c.Registry.Password, c.Age.Passphrase, c.Age.Identity) {
		if s != "" {
			out = append(out, s)
		}
	}
	// Notification URLs carry their service's credentials (a webhook path, a bot token); the
	// masker keeps only parts long enough to mask safely (bashexec.MinGlobalSecret).
	for _, u := range c.Notify.URLs {
		for _, s := range urlSecrets(u) {
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

const mask = "***"

// Masked is the effective configuration keyed by variable name, secrets shown as "***"
// (empty when unset, so the log still tells whether a secret is configured).
func (c Config) Masked() map[string]string {
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return mask
	}
	tokens := make([]string, len(c.AdminTokens))
	for i := range tokens {
		tokens[i] = mask
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	b := strconv.FormatBool
	out := map[string]string{
		envCronBackupService:         b(c.Cron.BackupService),
		envCronCleanService:          b(c.Cron.CleanService),
		envCronCleanNode:             b(c.Cron.CleanNode),
		envCronExpr:                  c.Cron.Expr,
		envAdminTokenList:            strings.Join(tokens, ","),
		envOIDCIssuers:               strings.Join(c.OIDC.Issuers, ","),
		envOIDCAudience:              c.OIDC.Audience,
		envOIDCJWKSCache:             ms(c.OIDC.JWKSCache),
		envOIDCMaxTokenLifetime:      ms(c.OIDC.MaxTokenLifetime),
		envDockerCLIImage:            c.DockerCLIImage,
		envBackupImage:               c.BackupImage,
		envSelfImage:                 c.SelfImage,
		envBackupExecShell:           c.BackupExecShell,
		envCleanExecShell:            c.CleanExecShell,
		envCleanNodeImageKeep:        strings.Join(c.CleanNodeImage.Keep, ","),
		envCleanNodeImageUntil:       durationString(c.CleanNodeImage.Until),
		envBackupExecTimeout:         ms(c.Timeouts.BackupExec),
		envBackupStopTimeout:         ms(c.Timeouts.BackupStop),
		envBackupUploadTimeout:       ms(c.Timeouts.BackupUpload),
		envBackupStartTimeout:        ms(c.Timeouts.BackupStart),
		envCleanServiceExecTimeout:   ms(c.Timeouts.CleanServiceExec),
		envUpdateServiceTimeout:      ms(c.Timeouts.UpdateService),
		envCleanNodeImageTimeout:     ms(c.Timeouts.CleanNodeImage),
		envCleanNodeBuilderTimeout:   ms(c.Timeouts.CleanNodeBuilder),
		envCleanNodeContainerTimeout: ms(c.Timeouts.CleanNodeContainer),
		envPendingTimeout:            ms(c.Timeouts.Pending),
		envLockTimeout:               ms(c.Timeouts.Lock),
		envExtraTimeout:              ms(c.Timeouts.Extra),
		envLockLease:                 ms(c.Timeouts.LockLease),
		envInstance:                  c.Instance,
		envS3URL:                     c.S3.URL,
		envS3HTTPS:                   b(c.S3.HTTPS),
		envS3Bucket:                  c.S3.Bucket,
		envS3AccessKey:               hide(c.S3.AccessKey),
		envS3SecretKey:               hide(c.S3.SecretKey),
		envS3RetentionDays:           strconv.Itoa(c.S3.RetentionDays),
		envRegistryUser:              c.Registry.User,
		envRegistryPassword:          hide(c.Registry.Password),
		envRegistryURL:               c.Registry.URL,
		envUpdateRollbackOnFailure:   b(c.UpdateRollbackOnFailure),
		envServerPort:                strconv.Itoa(c.ServerPort),
		envDockerHost:                c.DockerHost,
		envLogFormat:                 c.LogFormat,
		envLogLevel:                  c.LogLevel,
		envDryRun:                    b(c.DryRun),
		envDataDir:                   c.DataDir,
		envHistoryDays:               strconv.Itoa(c.HistoryDays),
		envNotifyURLs:                strings.Join(hideEach(c.Notify.URLs), ","),
		envNotifyOn:                  c.Notify.On,
		envUpdateAutoCron:            c.Cron.UpdateAutoExpr,
	}
	maps.Copy(out, c.Age.masked(hide))
	return out
}

// hideEach is one mask per secret, so the log tells how many are set.
func hideEach(secrets []string) []string {
	out := make([]string, len(secrets))
	for i := range out {
		out[i] = mask
	}
	return out
}

// durationString is d as SWARM_UTILS_CLEAN_NODE_IMAGE_UNTIL takes it, "" for 0.
func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
