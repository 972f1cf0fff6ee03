package backup

import (
	"strconv"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/labels"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Settings configure backup-service for one service.
type Settings struct {
	Enabled bool
	Exec    string // optional pre-command in every task; "" = none
	Shell   string
	Stop    bool     // scale to 0 during the upload (replicated services only)
	Volumes []string // named volumes to upload; trimmed, no empties, no duplicates, in label order
	S3      config.S3

	ExecTimeout, StopTimeout, UploadTimeout, StartTimeout time.Duration
}

// SettingsFromLabels reads a service's backup.* labels. Each S3 field comes from its
// label, else from cfg.S3; an enabled backup needs volumes and a complete S3 target.
func SettingsFromLabels(lbls map[string]string, cfg config.Config) (Settings, error) {
	r := labels.Reader{Labels: lbls}
	s := Settings{Enabled: r.Bool(parse.LabelBackupEnable, false)}
	if r.Err != nil || !s.Enabled {
		return Settings{}, r.Err
	}
	s.Exec = r.Command(parse.LabelBackupExec)
	s.Shell = r.StrOr(parse.LabelBackupExecShell, cfg.BackupExecShell)
	s.Stop = r.Bool(parse.LabelBackupStop, false)
	s.Volumes = r.List(parse.LabelBackupVolumes)
	s.ExecTimeout = r.Millis(parse.LabelBackupExecTimeout, cfg.Timeouts.BackupExec)
	s.StopTimeout = r.Millis(parse.LabelBackupStopTimeout, cfg.Timeouts.BackupStop)
	s.UploadTimeout = r.Millis(parse.LabelBackupUploadTimeout, cfg.Timeouts.BackupUpload)
	s.StartTimeout = r.Millis(parse.LabelBackupStartTimeout, cfg.Timeouts.BackupStart)

	s.S3 = config.S3{
		URL:           r.StrOr(parse.LabelBackupS3URL, cfg.S3.URL),
		HTTPS:         r.Bool(parse.LabelBackupS3HTTPS, cfg.S3.HTTPS),
		Bucket:        r.StrOr(parse.LabelBackupS3Bucket, cfg.S3.Bucket),
		AccessKey:     r.StrOr(parse.LabelBackupS3AccessKey, cfg.S3.AccessKey),
		SecretKey:     r.StrOr(parse.LabelBackupS3SecretKey, cfg.S3.SecretKey),
		RetentionDays: cfg.S3.RetentionDays,
	}
	if v := r.Str(parse.LabelBackupS3Retention); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 {
			r.Fail(parse.LabelBackupS3Retention, "%q is not a whole number of days of at least 1", v)
		}
		s.S3.RetentionDays = days
	}
	if strings.Contains(s.S3.URL, "://") {
		r.Fail(parse.LabelBackupS3URL, "%q must be host[:port] without a scheme (use %s)", s.S3.URL, parse.LabelBackupS3HTTPS)
	}

	if s.Exec != "" && s.Shell == "" {
		r.Fail(parse.LabelBackupExecShell, "is empty and SWARM_UTILS_BACKUP_SERVICE_EXEC_SHELL is not set")
	}
	if len(s.Volumes) == 0 {
		r.Fail(parse.LabelBackupVolumes, "is required when %s=true (comma-separated volume names)", parse.LabelBackupEnable)
	}
	for _, need := range []struct{ value, label, env string }{
		{s.S3.URL, parse.LabelBackupS3URL, "SWARM_UTILS_S3_URL"},
		{s.S3.Bucket, parse.LabelBackupS3Bucket, "SWARM_UTILS_S3_BUCKET"},
		{s.S3.AccessKey, parse.LabelBackupS3AccessKey, "SWARM_UTILS_S3_ACCESS_KEY"},
		{s.S3.SecretKey, parse.LabelBackupS3SecretKey, "SWARM_UTILS_S3_SECRET_KEY"},
	} {
		if need.value == "" {
			r.Fail(need.label, "is not set and neither is %s", need.env)
		}
	}
	if r.Err != nil {
		return Settings{}, r.Err
	}
	return s, nil
}
