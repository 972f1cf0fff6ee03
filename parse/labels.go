package parse

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// LabelPrefix starts every swarm-utils label.
const LabelPrefix = "swarm-utils."

// Service labels (deploy.labels), SPEC §3.
const (
	LabelCleanEnable      = LabelPrefix + "clean.enable"
	LabelCleanExec        = LabelPrefix + "clean.exec"
	LabelCleanExecShell   = LabelPrefix + "clean.exec.shell"
	LabelCleanExecTimeout = LabelPrefix + "clean.exec.timeout"
	LabelCleanToken       = LabelPrefix + "clean.token"

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
	LabelBackupToken         = LabelPrefix + "backup.token"

	LabelUpdateEnable           = LabelPrefix + "update.enable"
	LabelUpdateRegistryAuth     = LabelPrefix + "update.registry.auth"
	LabelUpdateRegistryUser     = LabelPrefix + "update.registry.user"
	LabelUpdateRegistryPassword = LabelPrefix + "update.registry.password"
	LabelUpdateRegistryURL      = LabelPrefix + "update.registry.url"
	LabelUpdateExecPre          = LabelPrefix + "update.exec-pre"
	LabelUpdateExecPost         = LabelPrefix + "update.exec-post"
	LabelUpdateImageAllow       = LabelPrefix + "update.image-allow"
	LabelUpdateToken            = LabelPrefix + "update.token"
)

// Node labels (docker node update --label-add), SPEC §3. clean.enable and clean.token share
// their names with the service labels; they are read from the node.
const (
	LabelNodeCleanEnable           = LabelPrefix + "clean.enable"
	LabelNodeCleanToken            = LabelPrefix + "clean.token"
	LabelNodeCleanImageEnable      = LabelPrefix + "clean.image.enable"
	LabelNodeCleanImageTimeout     = LabelPrefix + "clean.image.timeout"
	LabelNodeCleanBuilderEnable    = LabelPrefix + "clean.builder.enable"
	LabelNodeCleanBuilderTimeout   = LabelPrefix + "clean.builder.timeout"
	LabelNodeCleanContainerEnable  = LabelPrefix + "clean.container.enable"
	LabelNodeCleanContainerTimeout = LabelPrefix + "clean.container.timeout"
)

// Label tokens (service and node swarm-utils.<action>.token) may be stored as the token's
// SHA-256 instead of the token, so reading the labels does not reveal it:
// `sha256:` followed by 64 hex digits, e.g. from `printf %s "$TOKEN" | sha256sum`.
const TokenHashPrefix = "sha256:"

// TokenHash returns the digest of a label token written as sha256:<hex>; ok is false for a
// plain token. A value that starts with sha256: but is not 64 hex digits is malformed: it
// matches no token (it is never compared as a plain token either).
func TokenHash(value string) (digest [32]byte, hashed, ok bool) {
	if len(value) < len(TokenHashPrefix) || !strings.EqualFold(value[:len(TokenHashPrefix)], TokenHashPrefix) {
		return digest, false, false
	}
	h := value[len(TokenHashPrefix):]
	if len(h) != 2*len(digest) {
		return digest, true, false
	}
	if _, err := hex.Decode(digest[:], []byte(h)); err != nil {
		return [32]byte{}, true, false
	}
	return digest, true, true
}

// OIDC labels: CI identity tokens (GitHub Actions, GitLab CI JWTs) allowed to run an action,
// per service (and per node for clean). Each is swarm-utils.<action>.oidc.<field>.
const (
	OIDCRepositorySuffix   = ".oidc.repository"    // GitHub repository / GitLab project_path; comma list
	OIDCRefSuffix          = ".oidc.ref"           // optional: GitHub refs/heads/main, GitLab main; comma list
	OIDCRefProtectedSuffix = ".oidc.ref-protected" // optional: true requires the ref_protected claim
	OIDCIssuerSuffix       = ".oidc.issuer"        // issuer URL, or github / gitlab

	LabelCleanOIDCRepository  = LabelPrefix + "clean" + OIDCRepositorySuffix
	LabelBackupOIDCRepository = LabelPrefix + "backup" + OIDCRepositorySuffix
	LabelUpdateOIDCRepository = LabelPrefix + "update" + OIDCRepositorySuffix
)

// OIDC issuers that the issuer label may name by a short word.
var OIDCIssuerAliases = map[string]string{
	"github": "https://token.actions.githubusercontent.com",
	"gitlab": "https://gitlab.com",
}

// OIDCRule is who may run one action on one target by a CI identity token.
type OIDCRule struct {
	Repositories []string // none: OIDC is not set up for the action
	Refs         []string // none: any ref
	RefProtected bool
	Issuer       string // "" = unnamed (allowed only while one issuer is configured)
}

// OIDCRuleFromLabels reads swarm-utils.<action>.oidc.* from a service's or node's labels;
// action is clean, backup or update.
func OIDCRuleFromLabels(labels map[string]string, action string) (OIDCRule, error) {
	base := LabelPrefix + action
	r := labelReader{labels: labels}
	rule := OIDCRule{
		Repositories: r.list(base + OIDCRepositorySuffix),
		Refs:         r.list(base + OIDCRefSuffix),
		RefProtected: r.boolean(base+OIDCRefProtectedSuffix, false),
		Issuer:       strings.TrimRight(r.str(base+OIDCIssuerSuffix), "/"),
	}
	if alias, ok := OIDCIssuerAliases[strings.ToLower(rule.Issuer)]; ok {
		rule.Issuer = alias
	}
	if len(rule.Repositories) == 0 && (len(rule.Refs) > 0 || rule.RefProtected || rule.Issuer != "") {
		r.fail(base+OIDCRepositorySuffix, "is required by the other %s.oidc.* labels", base)
	}
	if r.err != nil {
		return OIDCRule{}, r.err
	}
	return rule, nil
}

// labelReader reads the OIDC rule labels and remembers the first problem. The job settings
// are read by internal/labels.Reader in the job packages.
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

// boolean reads true/false (any case); an absent label gives def; anything else is an error.
func (r *labelReader) boolean(label string, def bool) bool {
	v, ok := r.labels[label]
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true
	case "false":
		return false
	}
	r.fail(label, "%q is not true or false", v)
	return def
}

// list reads a comma-separated list: items trimmed, empties and duplicates dropped.
func (r *labelReader) list(label string) []string {
	var out []string
	seen := map[string]bool{}
	for item := range strings.SplitSeq(r.labels[label], ",") {
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
