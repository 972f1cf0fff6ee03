package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
)

// The helper reads the age passphrase or identity from files of per-run secrets, named by
// these variables (never flags or plain variables: they would show in the service spec).
const (
	envAgePassphraseFile = "AGE_PASSPHRASE_FILE"
	envAgeIdentityFile   = "AGE_IDENTITY_FILE"
)

// ageExt ends the name of an archive offen encrypted with age; gpgExt one it encrypted with gpg.
const (
	ageExt = ".age"
	gpgExt = ".gpg"
)

// ageSecretFiles are the age settings a restore helper needs for an encrypted archive.
func (j *Job) ageSecretFiles(a Archive) []backup.SecretFile {
	if !strings.HasSuffix(a.Key, ageExt) {
		return nil
	}
	var out []backup.SecretFile
	if p := j.Config.Age.Passphrase; p != "" {
		out = append(out, backup.SecretFile{File: "swarm-utils-age-passphrase", Env: envAgePassphraseFile, Value: p})
	}
	if id := j.Config.Age.Identity; id != "" {
		out = append(out, backup.SecretFile{File: "swarm-utils-age-identity", Env: envAgeIdentityFile, Value: id})
	}
	return out
}

// Peeker reads the start of an object; S3Store does. With one, a restore checks that each
// encrypted archive decrypts with the configured passphrase or identity before it changes
// anything.
type Peeker interface {
	Peek(ctx context.Context, s3 config.S3, key string, n int64) ([]byte, error)
}

// ageHeaderBytes holds an age header with many recipients and the payload nonce.
const ageHeaderBytes = 64 << 10

// checkDecrypts unwraps the file key of each encrypted archive from its header (it is read
// first, and a wrong passphrase or identity fails there) before the service is stopped.
func (j *Job) checkDecrypts(ctx context.Context, s3 config.S3, picked []Archive) error {
	p, ok := j.Store.(Peeker)
	if !ok {
		return nil
	}
	var ids []age.Identity
	for _, a := range picked {
		if !strings.HasSuffix(a.Key, ageExt) {
			continue
		}
		if ids == nil {
			var err error
			if ids, err = configIdentities(j.Config.Age); err != nil {
				return err
			}
		}
		head, err := p.Peek(ctx, s3, a.Key, ageHeaderBytes)
		if err != nil {
			return operation.Errorf(operation.KindDocker, "read the header of %s: %w", a.Key, err)
		}
		if _, err := age.Decrypt(bytes.NewReader(head), ids...); err != nil {
			return operation.Errorf(operation.KindConfig, "archive %s does not decrypt with the configured age passphrase or identity (nothing was changed): %v", a.Key, err)
		}
	}
	return nil
}

// configIdentities are the identities of the configuration's passphrase and identity.
func configIdentities(a config.Age) ([]age.Identity, error) {
	var ids []age.Identity
	if a.Passphrase != "" {
		id, err := age.NewScryptIdentity(a.Passphrase)
		if err != nil {
			return nil, operation.Errorf(operation.KindConfig, "SWARM_UTILS_BACKUP_AGE_PASSPHRASE: %w", err)
		}
		ids = append(ids, id)
	}
	if a.Identity != "" {
		parsed, err := age.ParseIdentities(strings.NewReader(a.Identity))
		if err != nil {
			return nil, operation.Errorf(operation.KindConfig, "SWARM_UTILS_BACKUP_AGE_IDENTITY is not AGE-SECRET-KEY-1… lines")
		}
		ids = append(ids, parsed...)
	}
	return ids, nil
}

// helperIdentities reads the identities the helper was given: a scrypt one for a passphrase,
// the X25519 ones of an identity file.
func helperIdentities(getenv func(string) string) ([]age.Identity, error) {
	var ids []age.Identity
	if p := getenv(envAgePassphraseFile); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read the age passphrase file named by %s: %w", envAgePassphraseFile, err)
		}
		id, err := age.NewScryptIdentity(string(b))
		if err != nil {
			return nil, fmt.Errorf("age passphrase: %w", err)
		}
		ids = append(ids, id)
	}
	if p := getenv(envAgeIdentityFile); p != "" {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("read the age identity file named by %s: %w", envAgeIdentityFile, err)
		}
		defer f.Close()
		parsed, err := age.ParseIdentities(f)
		if err != nil {
			// Its text is secret: the parser's message may quote it.
			return nil, errors.New("the age identity is not AGE-SECRET-KEY-1… lines")
		}
		ids = append(ids, parsed...)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("the archive is encrypted with age, and no passphrase or identity was given (SWARM_UTILS_BACKUP_AGE_PASSPHRASE or SWARM_UTILS_BACKUP_AGE_IDENTITY)")
	}
	return ids, nil
}

// DecryptFile decrypts the age file src into dst, whole: a wrong passphrase or identity fails
// at the header, a truncated or altered file at the chunk it reaches; either way before any
// volume is touched.
func DecryptFile(src, dst string, ids ...age.Identity) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := age.Decrypt(in, ids...)
	if err != nil {
		return fmt.Errorf("decrypt (wrong passphrase or identity?): %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(out, r); err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	return nil
}
