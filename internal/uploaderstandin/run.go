// Package uploaderstandin is the logic of a TEST STAND-IN for the
// offen/docker-volume-backup image — it is not offen and ships in no
// product image. It honours the part of offen's one-shot contract that
// swarm-utils relies on (volumes at /backup/<volume>, the AWS_* and BACKUP_*
// environment, one tar.gz with backup/<volume>/... members, the "Uploaded a
// copy of backup" log line, exit 0 without uploading when no bucket is
// configured, pruning by age and prefix, exit 1 on any error), so the
// integration tests can run without pulling offen's image. It uploads, lists
// and prunes with minio-go (internal/s3client), as offen does. The binary is
// testdata/uploader-standin.
package uploaderstandin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/swarm-utils/swarm-utils/internal/s3client"
)

// Defaults as documented by offen.
const (
	DefaultBackupRoot    = "/backup"
	DefaultFilename      = "backup-%Y-%m-%dT%H-%M-%S.tar.gz"
	DefaultEndpoint      = "s3.amazonaws.com"
	DefaultPruningLeeway = time.Minute
)

// Config is the stand-in's environment, parsed.
type Config struct {
	BackupRoot    string // STANDIN_BACKUP_ROOT, tests only; offen always reads /backup
	Endpoint      string // AWS_ENDPOINT, host[:port]
	HTTPS         bool   // AWS_ENDPOINT_PROTO == "https"
	Bucket        string // AWS_S3_BUCKET_NAME; empty: no storage, nothing uploaded
	AccessKey     string // AWS_ACCESS_KEY_ID
	SecretKey     string // AWS_SECRET_ACCESS_KEY; never logged
	Path          string // AWS_S3_PATH without surrounding slashes
	Filename      string // BACKUP_FILENAME, strftime pattern
	RetentionDays int    // BACKUP_RETENTION_DAYS; negative: no pruning
	PruningPrefix string // BACKUP_PRUNING_PREFIX
	PruningLeeway time.Duration
	TempDir       string // where the archive is written before upload
	// AGE_PASSPHRASE or AGE_PUBLIC_KEYS (comma-separated age1… keys): the archive is
	// encrypted with age and named <name>.age, as offen does; never logged.
	AgePassphrase string
	AgePublicKeys []string
}

// LogValue keeps the secret out of any structured log of the config.
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.SecretKey != "" {
		secret = "***"
	}
	return slog.GroupValue(
		slog.String("backup_root", c.BackupRoot),
		slog.String("endpoint", c.Endpoint),
		slog.Bool("https", c.HTTPS),
		slog.String("bucket", c.Bucket),
		slog.String("access_key", c.AccessKey),
		slog.String("secret_key", secret),
		slog.String("path", c.Path),
		slog.String("filename", c.Filename),
		slog.Int("retention_days", c.RetentionDays),
		slog.String("pruning_prefix", c.PruningPrefix),
		slog.Duration("pruning_leeway", c.PruningLeeway),
		slog.Bool("age_passphrase", c.AgePassphrase != ""),
		slog.Int("age_public_keys", len(c.AgePublicKeys)),
	)
}

// String is LogValue for fmt: the secret stays masked.
func (c Config) String() string { return c.LogValue().String() }

// GoString keeps %#v masked too.
func (c Config) GoString() string { return c.String() }

// ConfigFromEnv reads the offen variables through getenv (a variable is set when not empty).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return ConfigFromLookup(func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
}

// ConfigFromLookup reads the offen variables through lookup (os.LookupEnv). As offen does for
// every variable, KEY_FILE names a file whose whole content (not trimmed) is KEY's value: KEY
// alone gives its value, KEY_FILE alone the file's content (an unreadable file counts as
// unset), both at once count as unset.
func ConfigFromLookup(lookup func(string) (string, bool)) (Config, error) {
	getenv := func(key string) string {
		value, okValue := lookup(key)
		location, okFile := lookup(key + "_FILE")
		switch {
		case okValue && !okFile:
			return value
		case !okValue && okFile:
			data, err := os.ReadFile(location)
			if err != nil {
				return ""
			}
			return string(data)
		}
		return ""
	}
	c := Config{
		BackupRoot:    getenv("STANDIN_BACKUP_ROOT"),
		Endpoint:      getenv("AWS_ENDPOINT"),
		Bucket:        getenv("AWS_S3_BUCKET_NAME"),
		AccessKey:     getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:     getenv("AWS_SECRET_ACCESS_KEY"),
		Path:          strings.Trim(getenv("AWS_S3_PATH"), "/"),
		Filename:      getenv("BACKUP_FILENAME"),
		PruningPrefix: getenv("BACKUP_PRUNING_PREFIX"),
		AgePassphrase: getenv("AGE_PASSPHRASE"),
		RetentionDays: -1,
		PruningLeeway: DefaultPruningLeeway,
		TempDir:       os.TempDir(),
	}
	if c.BackupRoot == "" {
		c.BackupRoot = DefaultBackupRoot
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.Filename == "" {
		c.Filename = DefaultFilename
	}
	switch proto := getenv("AWS_ENDPOINT_PROTO"); proto {
	case "", "https":
		c.HTTPS = true
	case "http":
	default:
		return c, fmt.Errorf("AWS_ENDPOINT_PROTO %q: want https or http", proto)
	}
	if strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/") {
		return c, fmt.Errorf("AWS_ENDPOINT %q: want host[:port] without scheme or path", c.Endpoint)
	}
	switch comp := getenv("BACKUP_COMPRESSION"); comp {
	case "", "gz":
	default:
		return c, fmt.Errorf("BACKUP_COMPRESSION %q: this stand-in only writes gz", comp)
	}
	if v := getenv("BACKUP_RETENTION_DAYS"); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil {
			return c, fmt.Errorf("BACKUP_RETENTION_DAYS %q: %w", v, err)
		}
		c.RetentionDays = days
	}
	if v := getenv("BACKUP_PRUNING_LEEWAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("BACKUP_PRUNING_LEEWAY %q: %w", v, err)
		}
		c.PruningLeeway = d
	}
	// envconfig splits a []string on commas.
	for _, k := range strings.Split(getenv("AGE_PUBLIC_KEYS"), ",") {
		if k != "" {
			c.AgePublicKeys = append(c.AgePublicKeys, k)
		}
	}
	if c.AgePassphrase != "" && len(c.AgePublicKeys) > 0 {
		return c, errors.New("error in selecting archive encryption method: expected 0 or 1 to be configured, 2 methods are configured")
	}
	if c.Bucket != "" && (c.AccessKey == "" || c.SecretKey == "") {
		return c, errors.New("AWS_S3_BUCKET_NAME is defined, but no credentials were provided")
	}
	return c, nil
}

// Run performs one backup: archive, upload, prune, clean up. now is the
// backup's timestamp (file name and pruning deadline).
func Run(ctx context.Context, c Config, log *slog.Logger, now time.Time) error {
	name, err := Strftime(c.Filename, now)
	if err != nil {
		return fmt.Errorf("BACKUP_FILENAME: %w", err)
	}
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return fmt.Errorf("BACKUP_FILENAME %q expands to %q, not a plain file name", c.Filename, name)
	}
	tarFile := filepath.Join(c.TempDir, name)
	if err := createArchive(c.BackupRoot, tarFile, log); err != nil {
		return err
	}
	file := tarFile // the one uploaded
	defer func() {
		if err := os.Remove(tarFile); err != nil {
			log.Warn(fmt.Sprintf("Could not remove tar file `%s`: %v", tarFile, err))
			return
		}
		log.Info(fmt.Sprintf("Removed tar file `%s`.", tarFile))
	}()
	if c.AgePassphrase != "" || len(c.AgePublicKeys) > 0 {
		enc, err := encryptArchive(c, file)
		if err != nil {
			return fmt.Errorf("error encrypting backup file: %w", err)
		}
		defer os.Remove(enc)
		log.Info(fmt.Sprintf("Encrypted backup using %q, saving as %q", "age", enc))
		file, name = enc, name+".age"
	}

	if c.Bucket == "" {
		log.Warn("No storage backend is configured (AWS_S3_BUCKET_NAME is empty); the backup was not uploaded anywhere.")
		return nil
	}
	client, err := s3client.New(c.Endpoint, c.HTTPS, c.AccessKey, c.SecretKey)
	if err != nil {
		return err
	}
	if err := upload(ctx, client, c, file, name); err != nil {
		return err
	}
	log.Info(fmt.Sprintf("Uploaded a copy of backup `%s` to bucket `%s`.", file, c.Bucket), "storage", "S3")

	if c.RetentionDays < 0 {
		return nil
	}
	return prune(ctx, client, c, PruneDeadline(now, c.RetentionDays, c.PruningLeeway), log)
}

func createArchive(root, file string, log *slog.Logger) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create tar file: %w", err)
	}
	stats, err := WriteArchive(f, root)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close tar file %s: %w", file, cerr)
	}
	if err != nil {
		_ = os.Remove(file)
		return fmt.Errorf("error compressing backup folder: %w", err)
	}
	for _, s := range stats.Skipped {
		log.Warn(fmt.Sprintf("Skipped `%s`: not a regular file, directory or symlink.", s))
	}
	log.Info(fmt.Sprintf("Created backup of `%s` at `%s`.", root, file),
		"volumes", strings.Join(stats.Volumes, ","), "files", stats.Files, "dirs", stats.Dirs, "symlinks", stats.Symlinks)
	return nil
}

// upload sends the archive as offen does: FPutObject (multipart above minio-go's part size)
// with offen's content type, to AWS_S3_PATH/name.
func upload(ctx context.Context, client *minio.Client, c Config, file, name string) error {
	_, err := client.FPutObject(ctx, c.Bucket, path.Join(c.Path, name), file, minio.PutObjectOptions{ContentType: "application/tar+gzip"})
	if err != nil {
		return fmt.Errorf("error uploading backup to remote storage: %w", s3client.Describe(err))
	}
	return nil
}

// prune deletes the matches of SelectPrunable, keeping offen's safety: if
// every candidate matches, nothing is deleted and a warning is logged.
func prune(ctx context.Context, client *minio.Client, c Config, deadline time.Time, log *slog.Logger) error {
	objects, err := s3client.List(ctx, client, c.Bucket, ListPrefix(c.Path, c.PruningPrefix))
	if err != nil {
		return fmt.Errorf("error looking up candidates from remote storage: %w", err)
	}
	candidates, matches := SelectPrunable(objects, c.Path, c.PruningPrefix, deadline)
	switch {
	case len(matches) == 0:
		log.Info(fmt.Sprintf("None of %d existing backups were pruned.", len(candidates)), "storage", "S3")
	case len(matches) == len(candidates):
		log.Warn(fmt.Sprintf("The current configuration would delete all %d existing backups.", len(matches)), "storage", "S3")
		log.Warn("Refusing to do so, please check your configuration.", "storage", "S3")
	default:
		if err := s3client.Remove(ctx, client, c.Bucket, matches); err != nil {
			return fmt.Errorf("error pruning backups: %w", err)
		}
		log.Info(fmt.Sprintf("Pruned %d out of %d backups as they were older than the given deadline of %s.",
			len(matches), len(candidates), deadline.Local().Format(time.RFC3339)), "storage", "S3")
	}
	return nil
}
