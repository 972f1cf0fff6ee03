package config

import (
	"strings"

	"filippo.io/age"
)

// The age encryption of backup archives (offen's AGE_PASSPHRASE / AGE_PUBLIC_KEYS) and the
// identity restore decrypts them with.
const (
	envAgePassphrase = "SWARM_UTILS_BACKUP_AGE_PASSPHRASE"
	envAgePublicKeys = "SWARM_UTILS_BACKUP_AGE_PUBLIC_KEYS"
	envAgeIdentity   = "SWARM_UTILS_BACKUP_AGE_IDENTITY"
)

// Age is how backups are encrypted and restores decrypt. Passphrase and PublicKeys exclude
// each other (offen refuses both); Identity is what decrypts archives made for PublicKeys.
type Age struct {
	Passphrase string   // SWARM_UTILS_BACKUP_AGE_PASSPHRASE: scrypt, symmetric
	PublicKeys []string // SWARM_UTILS_BACKUP_AGE_PUBLIC_KEYS: age1… recipients
	Identity   string   // SWARM_UTILS_BACKUP_AGE_IDENTITY: AGE-SECRET-KEY-1… lines (an age key file)
}

// Encrypts tells whether backups are encrypted.
func (a Age) Encrypts() bool { return a.Passphrase != "" || len(a.PublicKeys) > 0 }

// CanDecrypt tells whether restore can decrypt age archives.
func (a Age) CanDecrypt() bool { return a.Passphrase != "" || a.Identity != "" }

// validate reports what offen or the restore would refuse, naming the variable.
func (a Age) validate(bad func(env, format string, args ...any)) {
	if a.Passphrase != "" && len(a.PublicKeys) > 0 {
		bad(envAgePublicKeys, "excludes %s: age encrypts with a passphrase or with public keys, not both", envAgePassphrase)
	}
	for _, k := range a.PublicKeys {
		if _, err := age.ParseX25519Recipient(k); err != nil {
			bad(envAgePublicKeys, "%q is not an age public key (age1…)", k)
		}
	}
	if a.Identity != "" {
		if _, err := age.ParseIdentities(strings.NewReader(a.Identity)); err != nil {
			// The identity's text is a secret: only the parser's kind of error is told.
			bad(envAgeIdentity, "is not an age identity (AGE-SECRET-KEY-1… lines, as age-keygen writes them)")
		}
	}
}

func ageVariables() []variable {
	return []variable{
		{envAgePassphrase, kindString, "", "encrypt backup archives with age and this passphrase (offen's AGE_PASSPHRASE, given to the uploader as a swarm secret); restore decrypts with it", catS3},
		{envAgePublicKeys, kindString, "", "comma-separated age public `KEYS` (age1…) to encrypt backup archives to (offen's AGE_PUBLIC_KEYS); excludes the passphrase; restore needs " + envAgeIdentity, catS3},
		{envAgeIdentity, kindString, "", "age identity (the AGE-SECRET-KEY-1… lines of an age key file) that restore decrypts archives encrypted to the public keys with; use the _FILE variant", catS3},
	}
}

func (r *reader) age() Age {
	return Age{
		Passphrase: r.secret(envAgePassphrase),
		PublicKeys: splitList(r.str(envAgePublicKeys)),
		Identity:   r.secret(envAgeIdentity),
	}
}

func (a Age) masked(hide func(string) string) map[string]string {
	return map[string]string{
		envAgePassphrase: hide(a.Passphrase),
		envAgePublicKeys: strings.Join(a.PublicKeys, ","),
		envAgeIdentity:   hide(a.Identity),
	}
}
