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

// uploadFromNodes runs, on every node in parallel, the volume check and then the uploader.
func (j *Job) uploadFromNodes(ctx context.Context, service, lockKey string, settings Settings, vols []volume, nodes []taskNode) []operation.Step {
	perNode := make([][]operation.Step, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			defer func() {
				// A panic here would kill the process before the deferred start could run.
				if p := recover(); p != nil {
					j.Log.Error("backup on node panicked", "service", service, "node", n.Name, "panic", p)
					perNode[i] = append(perNode[i], operation.Step{Name: "upload", Node: n.Name, Error: fmt.Sprintf("internal error: %v", p)})
				}
			}()
			perNode[i] = j.onNode(ctx, service, lockKey, settings, vols, n)
		})
	}
	wg.Wait()
	var steps []operation.Step
	for _, s := range perNode {
		steps = append(steps, s...)
	}
	return steps
}

// onNode checks which volumes exist on the node (mounting a missing one would create it
// empty) and uploads those in one archive named after service, node and time.
func (j *Job) onNode(ctx context.Context, service, lockKey string, settings Settings, vols []volume, node taskNode) []operation.Step {
	check, present := j.checkVolumes(ctx, service, lockKey, vols, node)
	if !check.OK {
		return []operation.Step{check}
	}
	up := operation.Step{Name: "upload", Node: node.Name, OK: true}
	if len(present) == 0 {
		up.Details = map[string]string{"skipped": "none of the volumes exists on this node"}
		return []operation.Step{check, up}
	}
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
	var mounts, entries []string
	for _, v := range present {
		// volume-nocopy: docker must never copy image content into the user's volume.
		mounts = append(mounts, "type=volume,src="+v.Source+",dst=/backup/"+v.Entry+",readonly,volume-nocopy")
		entries = append(entries, v.Entry)
	}
	started := time.Now()
	keys, err := j.createS3Secrets(ctx, lockKey, s3.AccessKey, s3.SecretKey, ageFiles(j.Config.Age)...)
	if err != nil {
		up.OK, up.Error = false, j.Secrets.Mask(fmt.Sprintf("upload on %s: %v", node.Name, err))
		up.Duration = operation.Since(started)
		return []operation.Step{check, up}
	}
	// Run has removed the helper when it returns: only then does docker let the secrets go.
	defer j.removeS3Secrets(ctx, keys)
	h := j.Helpers.Run(ctx, helper.Spec{
		Action: Op, LockKey: lockKey, Target: service, Step: "upload", NodeID: node.ID, NodeName: node.Name,
		// offen's image entrypoint is its scheduler (-foreground); `backup` runs one backup and
		// exits, its documented one-shot mode.
		Image: j.Config.BackupImage, Entrypoint: "backup", Env: append(env, keys.env...), Mounts: mounts, Secrets: keys.refs,
		Timeout: settings.UploadTimeout,
	})
	up = h.Step("upload", node.Name, started)
	up.Details = map[string]string{"volumes": strings.Join(entries, ",")}
	switch {
	case h.Err != nil:
		if why := lastErrorLine(h.Logs); why != "" {
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
	return []operation.Step{check, up}
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

// checkVolumes runs volumeCheckScript on the node and returns the volumes that exist there;
// the missing ones are named in the step's details.
func (j *Job) checkVolumes(ctx context.Context, service, lockKey string, vols []volume, node taskNode) (operation.Step, []volume) {
	marker := helper.NewMarker()
	args := []string{"sh", "-c", volumeCheckScript, "sh", marker}
	for _, v := range vols {
		args = append(args, v.Source)
	}
	started := time.Now()
	h := j.Helpers.Run(ctx, helper.Spec{
		Action: Op, LockKey: lockKey, Target: service, Step: "volume-check", NodeID: node.ID, NodeName: node.Name,
		Image: j.Config.DockerCLIImage, Args: args, Socket: true, Direct: true, Timeout: volumeCheckTimeout,
	})
	st := h.Step("volume-check", node.Name, started)
	if h.Err != nil {
		return st, nil
	}
	if h.Task.State == "dry-run" {
		return st, vols
	}
	if _, done := helper.ParseMarked(h.Logs, marker); !done {
		st.OK, st.Error = false, fmt.Sprintf("volume check on %s did not finish", node.Name)
		return st, nil
	}
	has := map[string]bool{}
	for _, v := range helper.MarkedLines(h.Logs, marker, "has") {
		has[v] = true
	}
	var present []volume
	var found, missing []string
	for _, v := range vols {
		if has[v.Source] {
			present = append(present, v)
			found = append(found, v.Source)
		} else {
			missing = append(missing, v.Source)
		}
	}
	st.Details = map[string]string{"present": strings.Join(found, ",")}
	if len(missing) > 0 {
		st.Details["missing"] = strings.Join(missing, ",") + " (not on this node: not mounted, it would be created empty)"
	}
	return st, present
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
