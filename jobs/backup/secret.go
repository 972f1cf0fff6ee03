package backup

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// The uploader reads the S3 keys from files (offen's AWS_ACCESS_KEY_ID_FILE and
// AWS_SECRET_ACCESS_KEY_FILE) that are swarm secrets made for one run: in the environment they
// would show in `docker service inspect` and in the create command's argv.
const (
	secretDir           = "/run/secrets/"
	accessKeyFile       = "swarm-utils-s3-access-key-id"
	secretKeyFile       = "swarm-utils-s3-secret-access-key"
	secretRemoveTimeout = 30 * time.Second
)

// s3Secrets are the two secrets of one uploader.
type s3Secrets struct {
	names []string // created, to remove
	refs  []string // --secret values
	env   []string // the _FILE variables
}

// SecretFile is one more value a helper reads from a per-run secret: the file under
// /run/secrets/ and the _FILE variable naming it.
type SecretFile struct{ File, Env, Value string }

// createS3Secrets creates one secret per key (and per extra value), named per run and
// labelled as swarm-utils' own (with the lock key, so that a repair limited to the target
// finds them). On error, those already created are removed.
func (j *Job) createS3Secrets(ctx context.Context, lockKey, accessKey, secretKey string, extra ...SecretFile) (s3Secrets, error) {
	var out s3Secrets
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return out, fmt.Errorf("name the S3 key secrets: %w", err)
	}
	run := hex.EncodeToString(b)
	labels := []swarm.Label{{Key: helper.LabelSecret, Value: "true"}, {Key: helper.LabelLock, Value: lockKey}, {Key: helper.LabelAction, Value: Op},
		{Key: helper.LabelInstance, Value: cmp.Or(j.Config.Instance, parse.DefaultInstance)}, {Key: helper.LabelRun, Value: operation.RunOf(ctx)}}
	files := []struct{ file, env, value string }{
		{accessKeyFile, "AWS_ACCESS_KEY_ID_FILE", accessKey},
		{secretKeyFile, "AWS_SECRET_ACCESS_KEY_FILE", secretKey},
	}
	for _, e := range extra {
		files = append(files, struct{ file, env, value string }{e.File, e.Env, e.Value})
	}
	for _, s := range files {
		name := "swarm-utils-" + run + "-" + s.file[len("swarm-utils-"):]
		// offen reads the file whole: no trailing newline.
		if err := j.Swarm.CreateSecret(ctx, swarm.Secret{Name: name, Labels: labels, Data: []byte(s.value)}); err != nil {
			j.removeS3Secrets(ctx, out)
			return s3Secrets{}, fmt.Errorf("create secret %s for the S3 keys: %w", name, err)
		}
		out.names = append(out.names, name)
		out.refs = append(out.refs, "source="+name+",target="+s.file+",mode=0400")
		out.env = append(out.env, s.env+"="+secretDir+s.file)
	}
	return out, nil
}

// removeS3Secrets removes the secrets once their helper is gone, also after cancel; one left
// (docker away) is removed by the next repair.
func (j *Job) removeS3Secrets(ctx context.Context, s s3Secrets) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretRemoveTimeout)
	defer cancel()
	for _, name := range s.names {
		if err := j.Swarm.RemoveSecret(rctx, name); err != nil {
			j.Log.Error("remove the S3 key secret of an uploader; `swarm-utils recover` removes it", "secret", name, "err", err)
		}
	}
}
