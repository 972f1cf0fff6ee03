package backup

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
)

// uploadedLine is what offen/docker-volume-backup logs after a successful upload; with no
// storage configured it exits 0 without it (SPEC §5), so success is read, not assumed.
const uploadedLine = "Uploaded a copy of backup"

var (
	uploadedRe = regexp.MustCompile("Uploaded a copy of backup `([^`]*)` to bucket `([^`]*)`")
	prunedRe   = regexp.MustCompile(`Pruned (\d+) out of (\d+) backups`)
	// errorLineRe finds the message of an error line of slog's text handler (offen's format).
	errorLineRe = regexp.MustCompile(`level=ERROR msg=("(?:[^"\\]|\\.)*"|\S+)`)
)

// uploadFromNodes runs the uploader on every node in parallel, all with the same S3 key
// secrets (made once per run: two secrets to create and remove whatever the number of nodes).
func (j *Job) uploadFromNodes(ctx context.Context, service, lockKey string, settings Settings, vols []volume, nodes []taskNode, keys s3Secrets, keysErr error) []operation.Step {
	if keysErr != nil {
		steps := make([]operation.Step, len(nodes))
		for i, n := range nodes {
			steps[i] = operation.Step{Name: "upload", Node: n.Name, Error: j.Secrets.Mask(fmt.Sprintf("upload on %s: %v", n.Name, keysErr))}
		}
		return steps
	}
	steps := make([]operation.Step, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			defer func() {
				// A panic here would kill the process before the deferred start could run.
				if p := recover(); p != nil {
					j.Log.Error("backup on node panicked", "service", service, "node", n.Name, "panic", p)
					steps[i] = operation.Step{Name: "upload", Node: n.Name, Error: fmt.Sprintf("internal error: %v", p)}
				}
			}()
			steps[i] = j.onNode(ctx, service, lockKey, settings, vols, n, keys)
		})
	}
	wg.Wait()
	return steps
}

// onNode uploads the volumes from the node in one archive named after service, node and time.
// The node runs a task of the service, whose container mounts every one of the volumes: they
// exist there (a mount of a missing one would create it empty, SPEC §5). The uploader's
// entrypoint (uploadScript) still checks each is mounted before offen reads anything.
func (j *Job) onNode(ctx context.Context, service, lockKey string, settings Settings, vols []volume, node taskNode, keys s3Secrets) operation.Step {
	s3 := settings.S3
	proto := "http"
	if s3.HTTPS {
		proto = "https"
	}
	mark := ""
	if j.Mark != "" {
		mark = "_" + j.Mark
	}
	env := []string{
		"AWS_ENDPOINT=" + s3.URL,
		"AWS_ENDPOINT_PROTO=" + proto,
		"AWS_S3_BUCKET_NAME=" + s3.Bucket,
		"AWS_S3_PATH=" + service,
		"BACKUP_FILENAME=" + service + "_" + node.Name + mark + "_%Y-%m-%dT%H-%M-%S.tar.gz",
		"BACKUP_COMPRESSION=gz",
		"BACKUP_RETENTION_DAYS=" + strconv.Itoa(s3.RetentionDays),
		// Scoped to this service's own archives; AWS_S3_PATH already keeps other services'
		// folders out of the listing.
		"BACKUP_PRUNING_PREFIX=" + service + "_",
	}
	marker := helper.NewMarker()
	args := []string{"-c", uploadScript, "sh", marker}
	var mounts, entries []string
	for _, v := range vols {
		// volume-nocopy: docker must never copy image content into the user's volume.
		mounts = append(mounts, "type=volume,src="+v.Source+",dst=/backup/"+v.Entry+",readonly,volume-nocopy")
		entries = append(entries, v.Entry)
		args = append(args, v.Entry)
	}
	started := time.Now()
	h := j.Helpers.Run(ctx, helper.Spec{
		Action: Op, LockKey: lockKey, Target: service, Step: "upload", NodeID: node.ID, NodeName: node.Name,
		// offen's image entrypoint is its scheduler (-foreground); uploadScript runs
		// `backup`, offen's documented one-shot mode.
		Image: j.Config.BackupImage, Entrypoint: "sh", Args: args, Env: append(env, keys.env...), Mounts: mounts, Secrets: keys.refs,
		Timeout: settings.UploadTimeout, DoneLine: marker + " done",
	})
	up := h.Step("upload", node.Name, started)
	up.Details = map[string]string{"volumes": strings.Join(entries, ",")}
	if empty := helper.MarkedLines(h.Logs, marker, "empty"); len(empty) > 0 {
		up.Details["empty"] = strings.Join(empty, ",")
	}
	switch {
	case h.Err != nil:
		if missing := helper.MarkedLines(h.Logs, marker, "unmounted"); len(missing) > 0 {
			up.Error = fmt.Sprintf("upload on %s: volume(s) %s not mounted in the uploader: nothing was uploaded", node.Name, strings.Join(missing, ","))
		} else if why := lastErrorLine(h.Logs); why != "" {
			up.Error += ": " + j.Secrets.For(ctx).Mask(why)
		}
	case h.Task.State == "dry-run":
		up.Details["dryRun"] = "true"
	case !strings.Contains(h.Logs, uploadedLine):
		up.OK = false
		up.Error = fmt.Sprintf("uploader on %s exited 0 but reported no upload (is storage configured?)", node.Name)
	default:
		if m := uploadedRe.FindStringSubmatch(h.Logs); m != nil {
			archive := path.Base(m[1])
			up.Details["archive"] = archive
			up.Details["bucket"] = j.Secrets.For(ctx).Mask(m[2])
			up.Details["key"] = service + "/" + archive
		}
		if m := prunedRe.FindStringSubmatch(h.Logs); m != nil {
			up.Details["pruned"] = m[1]
		}
	}
	up.Error = j.Secrets.For(ctx).Mask(up.Error)
	return up
}

// ageFiles hand offen the age settings as files of per-run secrets (offen reads every
// variable from KEY_FILE too): the passphrase never shows in the helper's spec; the public
// keys are no secret but travel the same way, so the spec holds no encryption setting at all.
func ageFiles(a config.Age) []SecretFile {
	var out []SecretFile
	if a.Passphrase != "" {
		out = append(out, SecretFile{File: "swarm-utils-age-passphrase", Env: "AGE_PASSPHRASE_FILE", Value: a.Passphrase})
	}
	if len(a.PublicKeys) > 0 {
		out = append(out, SecretFile{File: "swarm-utils-age-public-keys", Env: "AGE_PUBLIC_KEYS_FILE", Value: strings.Join(a.PublicKeys, ",")})
	}
	return out
}

// lastErrorLine is the message of the uploader's last error line, if any.
func lastErrorLine(logs string) string {
	m := errorLineRe.FindAllStringSubmatch(logs, -1)
	if len(m) == 0 {
		return ""
	}
	msg := m[len(m)-1][1]
	if u, err := strconv.Unquote(msg); err == nil {
		msg = u
	}
	return msg
}
