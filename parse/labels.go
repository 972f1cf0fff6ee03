package parse

import (
	"fmt"
	"strings"
)

// LabelPrefix starts every swarm-utils label.
const LabelPrefix = "swarm-utils."

// LabelInstance names the swarm-utils instance that manages a service or node (SPEC §11);
// without it, DefaultInstance.
const LabelInstance = LabelPrefix + "instance"

// DefaultInstance is the instance of a service or node without LabelInstance.
const DefaultInstance = "default"

// InstanceOf is the instance that manages a target with these labels.
func InstanceOf(labels map[string]string) string {
	if v := strings.TrimSpace(labels[LabelInstance]); v != "" {
		return v
	}
	return DefaultInstance
}

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
	LabelUpdateExecPreShell     = LabelPrefix + "update.exec-pre.shell"
	LabelUpdateExecPreTimeout   = LabelPrefix + "update.exec-pre.timeout"
	LabelUpdateExecPreOnFailure = LabelPrefix + "update.exec-pre.on-failure"
	LabelUpdateExecPost         = LabelPrefix + "update.exec-post"
	LabelUpdateExecPostShell    = LabelPrefix + "update.exec-post.shell"
	LabelUpdateExecPostTimeout  = LabelPrefix + "update.exec-post.timeout"
	LabelUpdateExecPostOnFail   = LabelPrefix + "update.exec-post.on-failure"
	LabelUpdateRollback         = LabelPrefix + "update.rollback-on-failure"
	// LabelUpdateAuto: the service follows its image tag's digest on the registry (updates by
	// digest); LabelUpdateAutoCron checks it on its own schedule instead of
	// SWARM_UTILS_UPDATE_AUTO_CRON.
	LabelUpdateAuto     = LabelPrefix + "update.auto"
	LabelUpdateAutoCron = LabelPrefix + "update.auto.cron"

	// Per-target schedules (package schedule): the job runs on this cron expression instead of
	// SWARM_UTILS_CRON_EXPR. clean.cron is read from services (clean-service) and nodes
	// (clean-node) alike.
	LabelCleanCron  = LabelPrefix + "clean.cron"
	LabelBackupCron = LabelPrefix + "backup.cron"
)

// Node labels (docker node update --label-add), SPEC §3. clean.enable shares its name with the
// service label; it is read from the node.
const (
	LabelNodeCleanEnable           = LabelPrefix + "clean.enable"
	LabelNodeCleanImageEnable      = LabelPrefix + "clean.image.enable"
	LabelNodeCleanImageTimeout     = LabelPrefix + "clean.image.timeout"
	LabelNodeCleanImageKeep        = LabelPrefix + "clean.image.keep"
	LabelNodeCleanImageUntil       = LabelPrefix + "clean.image.until"
	LabelNodeCleanBuilderEnable    = LabelPrefix + "clean.builder.enable"
	LabelNodeCleanBuilderTimeout   = LabelPrefix + "clean.builder.timeout"
	LabelNodeCleanContainerEnable  = LabelPrefix + "clean.container.enable"
	LabelNodeCleanContainerTimeout = LabelPrefix + "clean.container.timeout"
)

// The token labels (swarm-utils.<action>.token), the OIDC labels (.oidc.*) and
// update.image-allow authorise callers; package api/authz reads them. The job settings are read
// by the job packages (jobs/<job>/settings.go) with internal/labels.Reader.

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
