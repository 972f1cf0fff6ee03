package uploaderstandin

import (
	"fmt"
	"io"
	"os"

	"filippo.io/age"
)

// standinWorkFactor is the scrypt work factor of the stand-in's passphrase archives.
const standinWorkFactor = 10

// encryptArchive writes file encrypted with age to file+".age", as offen's encryptArchive
// does: a scrypt recipient for AGE_PASSPHRASE, else one X25519 recipient per public key.
func encryptArchive(c Config, file string) (string, error) {
	var recipients []age.Recipient
	if c.AgePassphrase != "" {
		r, err := age.NewScryptRecipient(c.AgePassphrase)
		if err != nil {
			return "", fmt.Errorf("scrypt recipient: %w", err)
		}
		// offen uses age's default work factor, 18: the same format, but every encryption and
		// each of the tests' decryptions (in the tests and in the restore helpers, all on the
		// bed's few cores) cost seconds. The reader takes any factor up to age's maximum.
		r.SetWorkFactor(standinWorkFactor)
		recipients = append(recipients, r)
	}
	for _, k := range c.AgePublicKeys {
		r, err := age.ParseX25519Recipient(k)
		if err != nil {
			return "", fmt.Errorf("failed to parse age public key: %w", err)
		}
		recipients = append(recipients, r)
	}
	enc := file + ".age"
	out, err := os.OpenFile(enc, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	err = func() error {
		in, err := os.Open(file)
		if err != nil {
			return err
		}
		defer in.Close()
		w, err := age.Encrypt(out, recipients...)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, in); err != nil {
			return err
		}
		return w.Close()
	}()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(enc)
		return "", err
	}
	return enc, nil
}
