package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/swarm-utils/swarm-utils/config"
)

// The restore helper is swarm-utils' own image running the hidden subcommand HelperCommand on
// the node: it needs no docker.sock, only the volumes (mounted under HelperMountDir) and the S3
// keys as files of a per-run swarm secret (the _FILE variables offen reads too).
const (
	HelperCommand  = "restore-volumes"
	HelperMountDir = "/restore"
	envAccessFile  = "AWS_ACCESS_KEY_ID_FILE"
	envSecretFile  = "AWS_SECRET_ACCESS_KEY_FILE"
	resultVerb     = "result"
)

// HelperArgs is one run of the restore helper.
type HelperArgs struct {
	S3      config.S3 // without keys: they are read from the _FILE variables
	Key     string    // the archive
	Volumes []string  // entries (backup/<entry>/…), each mounted at HelperMountDir/<entry>
	Marker  string    // prefixes the result line
}

// Argv is the helper's command after the entrypoint; it holds no secret.
func (a HelperArgs) Argv() []string {
	args := []string{HelperCommand, "--s3-url", a.S3.URL, "--bucket", a.S3.Bucket, "--key", a.Key, "--marker", a.Marker}
	if a.S3.HTTPS {
		args = append(args, "--https")
	}
	for _, v := range a.Volumes {
		args = append(args, "--volume", v)
	}
	return args
}

// RunHelper is the helper's body: read the keys, download the archive whole (a wrong key or
// a missing archive fails here, before any volume is touched), decrypt it whole when its
// name ends in .age (a wrong passphrase or identity fails here too), replace the volumes' content,
// and print the per-volume result as one marked JSON line, then the done line (DoneLine) once
// the downloaded archive is gone.
func RunHelper(ctx context.Context, a HelperArgs, getenv func(string) string, out io.Writer) error {
	res, err := restoreVolumes(ctx, a, getenv)
	if err != nil {
		return err
	}
	js, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode the result: %w", err)
	}
	if _, err = fmt.Fprintf(out, "%s %s %s\n", a.Marker, resultVerb, js); err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, DoneLine(a.Marker))
	return err
}

// DoneLine is the restore helper's last line, printed only when it restored.
func DoneLine(marker string) string { return marker + " done" }

// restoreVolumes is RunHelper's work, the archive's folder removed when it returns.
func restoreVolumes(ctx context.Context, a HelperArgs, getenv func(string) string) ([]VolumeResult, error) {
	for _, k := range []struct {
		env string
		dst *string
	}{{envAccessFile, &a.S3.AccessKey}, {envSecretFile, &a.S3.SecretKey}} {
		p := getenv(k.env)
		if p == "" {
			return nil, fmt.Errorf("%s is not set", k.env)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read the S3 key file named by %s: %w", k.env, err)
		}
		*k.dst = strings.TrimSpace(string(b))
	}
	if len(a.Volumes) == 0 {
		return nil, fmt.Errorf("no --volume to restore")
	}
	dirs := map[string]string{}
	for _, v := range a.Volumes {
		if v == "" || v == "." || v == ".." || strings.ContainsAny(v, `/\`) {
			return nil, fmt.Errorf("volume entry %q is not a plain name", v)
		}
		dirs[v] = filepath.Join(HelperMountDir, v)
	}
	tmp, err := os.MkdirTemp("", "restore-")
	if err != nil {
		return nil, fmt.Errorf("make a folder for the archive: %w", err)
	}
	defer os.RemoveAll(tmp)
	archive := filepath.Join(tmp, "archive.tar.gz")
	download := archive
	encrypted := strings.HasSuffix(a.Key, ageExt)
	var ids []age.Identity
	if encrypted {
		// Read first: a missing identity fails before the download.
		if ids, err = helperIdentities(getenv); err != nil {
			return nil, err
		}
		download = archive + ageExt
	}
	if err := Fetch(ctx, a.S3, a.Key, download); err != nil {
		return nil, err
	}
	if encrypted {
		if err := DecryptFile(download, archive, ids...); err != nil {
			return nil, fmt.Errorf("restore %s: %w", a.Key, err)
		}
		if err := os.Remove(download); err != nil {
			return nil, fmt.Errorf("remove the encrypted download: %w", err)
		}
	}
	res, err := ExtractArchive(archive, dirs)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", a.Key, err)
	}
	return res, nil
}
