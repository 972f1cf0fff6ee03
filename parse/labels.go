package parse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
)

// LabelPrefix starts every swarm-utils label.
const LabelPrefix = "swarm-utils."

// Service labels (deploy.labels), SPEC §3.
const (
	LabelCleanEnable      = LabelPrefix + "clean.enable"
	LabelCleanExec        = LabelPrefix + "clean.exec"
	LabelCleanExecShell   = LabelPrefix + "clean.exec.shell"
	LabelCleanExecTimeout = LabelPrefix + "clean.exec.timeout"

	LabelBackupEnable        = LabelPrefix + "backup.enable"
	LabelBackupExec          = LabelPrefix + "backup.exec"
	LabelBackupExecShell     = LabelPrefix + "backup.exec.shell"
	LabelBackupExecTimeout   = LabelPrefix + "backup.exec.timeout"
	LabelBackupStop          = LabelPrefix + "backup.stop"
	LabelBackupStopTimeout   = LabelPrefix + "backup.stop.timeout"
	LabelBackupStartTimeout  = LabelPrefix + "backup.start.timeout"
	LabelBackupVolumes       = LabelPrefix + "backup.volume-list-upload"
	LabelBackupUploadTimeout = LabelPrefix + "backup.volume-list-upload.timeout"
	LabelBackupS3URL         = LabelPrefix + "backup.volume-list-upload.s3.url"
	LabelBackupS3HTTPS       = LabelPrefix + "backup.volume-list-upload.s3.https"
	LabelBackupS3AccessKey   = LabelPrefix + "backup.volume-list-upload.s3.access-key"
	LabelBackupS3SecretKey   = LabelPrefix + "backup.volume-list-upload.s3.secret-key"
	LabelBackupS3Bucket      = LabelPrefix + "backup.volume-list-upload.s3.bucket"
	LabelBackupS3Retention   = LabelPrefix + "backup.volume-list-upload.s3.retention-days"

	LabelUpdateEnable           = LabelPrefix + "update.enable"
	LabelUpdateRegistryAuth     = LabelPrefix + "update.registry.auth"
	LabelUpdateRegistryUser     = LabelPrefix + "update.registry.user"
	LabelUpdateRegistryPassword = LabelPrefix + "update.registry.password"
	LabelUpdateRegistryURL      = LabelPrefix + "update.registry.url"
	LabelUpdateExecPre          = LabelPrefix + "update.exec-pre"
	LabelUpdateExecPost         = LabelPrefix + "update.exec-post"
)

// Node labels (docker node update --label-add), SPEC §3. clean.enable shares its name with the
// service label; it is read from the node.
const (
	LabelNodeCleanEnable           = LabelPrefix + "clean.enable"
	LabelNodeCleanImageEnable      = LabelPrefix + "clean.image.enable"
	LabelNodeCleanImageTimeout     = LabelPrefix + "clean.image.timeout"
	LabelNodeCleanBuilderEnable    = LabelPrefix + "clean.builder.enable"
	LabelNodeCleanBuilderTimeout   = LabelPrefix + "clean.builder.timeout"
	LabelNodeCleanContainerEnable  = LabelPrefix + "clean.container.enable"
	LabelNodeCleanContainerTimeout = LabelPrefix + "clean.container.timeout"
)

// The token labels (swarm-utils.<action>.token), the OIDC labels (.oidc.*) and
// update.image-allow authorise callers; package api/authz reads them.

// CleanSettings configure clean-service for one service.
type CleanSettings struct {
	Enabled     bool
	Exec        string // one argv element for `SHELL -c`
	Shell       string
	ExecTimeout time.Duration
}

// BackupSettings configure backup-service for one service.
type BackupSettings struct {
	Enabled bool
	Exec    string // optional pre-command in every task; "" = none
	Shell   string
	Stop    bool     // scale to 0 during the upload (replicated services only)
	Volumes []string // named volumes to upload; trimmed, no empties, no duplicates, in label order
	S3      config.S3

	ExecTimeout, StopTimeout, UploadTimeout, StartTimeout time.Duration
}

// UpdateSettings configure update-service for one service.
type UpdateSettings struct {
	Enabled      bool
	RegistryAuth bool
	Registry     config.Registry // each field from its label, else from config
	ExecPre      string          // "" = none
	ExecPost     string          // "" = none
}

// NodeCleanSettings configure clean-node for one node. With no labels every step is on.
type NodeCleanSettings struct {
	Enabled, Image, Builder, Container             bool
	ImageTimeout, BuilderTimeout, ContainerTimeout time.Duration
}

// labelReader reads typed values from labels and remembers the first problem, so settings
// functions stay a flat list of fields.
type labelReader struct {
	labels map[string]string
	err    error
}

func (r *labelReader) fail(label, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("label %s: %s", label, fmt.Sprintf(format, args...))
	}
}

// str returns the label's value with surrounding spaces removed; "" when absent.
func (r *labelReader) str(label string) string {
	return strings.TrimSpace(r.labels[label])
}

// strOr returns the label's trimmed value, or def when the label is absent or blank.
func (r *labelReader) strOr(label, def string) string {
	if v := r.str(label); v != "" {
		return v
	}
	return def
}

// boolean reads true/false (any case); an absent label gives def; anything else is an error.
func (r *labelReader) boolean(label string, def bool) bool {
	v, err := BoolLabel(r.labels, label, def)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

// BoolLabel reads true/false (any case); an absent label gives def; anything else is an error
// naming the label.
func BoolLabel(labels map[string]string, label string, def bool) (bool, error) {
	v, ok := labels[label]
	if !ok {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return def, fmt.Errorf("label %s: %q is not true or false", label, v)
}

// millis reads a positive number of milliseconds ("600_000" allowed); absent or blank gives def.
func (r *labelReader) millis(label string, def time.Duration) time.Duration {
	v := r.str(label)
	if v == "" {
		return def
	}
	d, err := config.ParseMillis(v)
	if err == nil && d == 0 {
		err = errors.New("must be more than 0 milliseconds") // no time at all
	}
	if err != nil {
		r.fail(label, "%q %v", v, err)
		return def
	}
	return d
}

// command reads a command label as written (it becomes one argv element); blank gives "".
func (r *labelReader) command(label string) string {
	v := r.labels[label]
	if strings.TrimSpace(v) == "" {
		return ""
	}
	return v
}

// list reads a comma-separated list: see ListLabel.
func (r *labelReader) list(label string) []string { return ListLabel(r.labels, label) }

// ListLabel reads a comma-separated list: items trimmed, empties and duplicates dropped.
func ListLabel(labels map[string]string, label string) []string {
	var out []string
	seen := map[string]bool{}
	for item := range strings.SplitSeq(labels[label], ",") {
		item = strings.TrimSpace(item)
		if item == "" || seen[item] {
			continue
		}
		seen[item] = true
		out = append(out, item)
	}
	return out
}

// CleanSettingsFromLabels reads a service's clean.* labels. A disabled (or unlabelled) service
// gives Enabled false and no error: its other clean labels are inert and not checked.
func CleanSettingsFromLabels(labels map[string]string, cfg config.Config) (CleanSettings, error) {
	r := labelReader{labels: labels}
	s := CleanSettings{Enabled: r.boolean(LabelCleanEnable, false)}
	if r.err != nil || !s.Enabled {
		return CleanSettings{}, r.err
	}
	s.Exec = r.command(LabelCleanExec)
	s.Shell = r.strOr(LabelCleanExecShell, cfg.CleanExecShell)
	s.ExecTimeout = r.millis(LabelCleanExecTimeout, cfg.Timeouts.CleanServiceExec)
	if s.Exec == "" {
		r.fail(LabelCleanExec, "is required when %s=true", LabelCleanEnable)
	}
	if s.Shell == "" {
		r.fail(LabelCleanExecShell, "is empty and SWARM_UTILS_CLEAN_SERVICE_EXEC_SHELL is not set")
	}
	if r.err != nil {
		return CleanSettings{}, r.err
	}
	return s, nil
}

// BackupSettingsFromLabels reads a service's backup.* labels. Each S3 field comes from its
// label, else from cfg.S3; an enabled backup needs volumes and a complete S3 target.
func BackupSettingsFromLabels(labels map[string]string, cfg config.Config) (BackupSettings, error) {
	r := labelReader{labels: labels}
	s := BackupSettings{Enabled: r.boolean(LabelBackupEnable, false)}
	if r.err != nil || !s.Enabled {
		return BackupSettings{}, r.err
	}
	s.Exec = r.command(LabelBackupExec)
	s.Shell = r.strOr(LabelBackupExecShell, cfg.BackupExecShell)
	s.Stop = r.boolean(LabelBackupStop, false)
	s.Volumes = r.list(LabelBackupVolumes)
	s.ExecTimeout = r.millis(LabelBackupExecTimeout, cfg.Timeouts.BackupExec)
	s.StopTimeout = r.millis(LabelBackupStopTimeout, cfg.Timeouts.BackupStop)
	s.UploadTimeout = r.millis(LabelBackupUploadTimeout, cfg.Timeouts.BackupUpload)
	s.StartTimeout = r.millis(LabelBackupStartTimeout, cfg.Timeouts.BackupStart)

	s.S3 = config.S3{
		URL:           r.strOr(LabelBackupS3URL, cfg.S3.URL),
		HTTPS:         r.boolean(LabelBackupS3HTTPS, cfg.S3.HTTPS),
		Bucket:        r.strOr(LabelBackupS3Bucket, cfg.S3.Bucket),
		AccessKey:     r.strOr(LabelBackupS3AccessKey, cfg.S3.AccessKey),
		SecretKey:     r.strOr(LabelBackupS3SecretKey, cfg.S3.SecretKey),
		RetentionDays: cfg.S3.RetentionDays,
	}
	if v := r.str(LabelBackupS3Retention); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 {
			r.fail(LabelBackupS3Retention, "%q is not a whole number of days of at least 1", v)
		}
		s.S3.RetentionDays = days
	}
	if strings.Contains(s.S3.URL, "://") {
		r.fail(LabelBackupS3URL, "%q must be host[:port] without a scheme (use %s)", s.S3.URL, LabelBackupS3HTTPS)
	}

	if s.Exec != "" && s.Shell == "" {
		r.fail(LabelBackupExecShell, "is empty and SWARM_UTILS_BACKUP_SERVICE_EXEC_SHELL is not set")
	}
	if len(s.Volumes) == 0 {
		r.fail(LabelBackupVolumes, "is required when %s=true (comma-separated volume names)", LabelBackupEnable)
	}
	for _, need := range []struct{ value, label, env string }{
		{s.S3.URL, LabelBackupS3URL, "SWARM_UTILS_S3_URL"},
		{s.S3.Bucket, LabelBackupS3Bucket, "SWARM_UTILS_S3_BUCKET"},
		{s.S3.AccessKey, LabelBackupS3AccessKey, "SWARM_UTILS_S3_ACCESS_KEY"},
		{s.S3.SecretKey, LabelBackupS3SecretKey, "SWARM_UTILS_S3_SECRET_KEY"},
	} {
		if need.value == "" {
			r.fail(need.label, "is not set and neither is %s", need.env)
		}
	}
	if r.err != nil {
		return BackupSettings{}, r.err
	}
	return s, nil
}

// UpdateSettingsFromLabels reads a service's update.* labels. With registry.auth=true each
// registry field comes from its label, else from cfg.Registry, and all three must be set.
func UpdateSettingsFromLabels(labels map[string]string, cfg config.Config) (UpdateSettings, error) {
	r := labelReader{labels: labels}
	s := UpdateSettings{Enabled: r.boolean(LabelUpdateEnable, false)}
	if r.err != nil || !s.Enabled {
		return UpdateSettings{}, r.err
	}
	s.RegistryAuth = r.boolean(LabelUpdateRegistryAuth, false)
	s.Registry = config.Registry{
		User:     r.strOr(LabelUpdateRegistryUser, cfg.Registry.User),
		Password: r.strOr(LabelUpdateRegistryPassword, cfg.Registry.Password),
		URL:      r.strOr(LabelUpdateRegistryURL, cfg.Registry.URL),
	}
	s.ExecPre = r.command(LabelUpdateExecPre)
	s.ExecPost = r.command(LabelUpdateExecPost)
	if s.RegistryAuth {
		for _, need := range []struct{ value, label, env string }{
			{s.Registry.User, LabelUpdateRegistryUser, "SWARM_UTILS_REGISTRY_USER"},
			{s.Registry.Password, LabelUpdateRegistryPassword, "SWARM_UTILS_REGISTRY_PASSWORD"},
			{s.Registry.URL, LabelUpdateRegistryURL, "SWARM_UTILS_REGISTRY_URL"},
		} {
			if need.value == "" {
				r.fail(need.label, "is not set and neither is %s (needed by %s=true)", need.env, LabelUpdateRegistryAuth)
			}
		}
	}
	if r.err != nil {
		return UpdateSettings{}, r.err
	}
	return s, nil
}

// NodeCleanSettingsFromLabels reads a node's clean.* labels. Unlabelled nodes are cleaned with
// all three steps; swarm-utils.clean.enable=false opts a node out entirely (Enabled false, other
// labels not checked, as for services).
func NodeCleanSettingsFromLabels(labels map[string]string, cfg config.Config) (NodeCleanSettings, error) {
	r := labelReader{labels: labels}
	if !r.boolean(LabelNodeCleanEnable, true) || r.err != nil {
		return NodeCleanSettings{}, r.err
	}
	s := NodeCleanSettings{
		Enabled:          true,
		Image:            r.boolean(LabelNodeCleanImageEnable, true),
		Builder:          r.boolean(LabelNodeCleanBuilderEnable, true),
		Container:        r.boolean(LabelNodeCleanContainerEnable, true),
		ImageTimeout:     r.millis(LabelNodeCleanImageTimeout, cfg.Timeouts.CleanNodeImage),
		BuilderTimeout:   r.millis(LabelNodeCleanBuilderTimeout, cfg.Timeouts.CleanNodeBuilder),
		ContainerTimeout: r.millis(LabelNodeCleanContainerTimeout, cfg.Timeouts.CleanNodeContainer),
	}
	if r.err != nil {
		return NodeCleanSettings{}, r.err
	}
	return s, nil
}

// secretLabelWords mark labels whose values are secrets.
var secretLabelWords = []string{"token", "password", "secret", "access-key", "accesskey", "credential"}

// MaskedLabels returns a copy of labels fit for logs and results: values of labels whose key
// names a token, password, secret key or access key are "***". Empty values stay empty, so
// "not set" remains visible.
func MaskedLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if v != "" && isSecretLabel(k) {
			v = "***"
		}
		out[k] = v
	}
	return out
}

func isSecretLabel(key string) bool {
	key = strings.ToLower(key)
	for _, w := range secretLabelWords {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}
